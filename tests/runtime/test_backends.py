"""The LiteRT (.tflite) and torch (AOTInductor .pt2) backends, served for real."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.runtime.config import TensorInfo
from .helpers import MODEL, Server, metric_value, toy_config

INPUTS = [TensorInfo("x", "FP32", [-1, 4], ["batch", None], None)]
OUTPUTS = [TensorInfo("y", "FP32", [-1, 3], ["batch", None], None)]


def _module():
    import torch

    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3)).eval()


def _serve_and_compare(srv: Server, module, rows: int) -> None:
    import torch

    xs = np.random.default_rng(1).standard_normal((rows, 4)).astype(np.float32)
    doc = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [rows, 4], "data": xs.ravel().tolist()}]}
    srv.wait_ready(120)
    status, body = srv.post_json(f"/v2/models/{MODEL}/infer", doc)
    assert status == 200, body
    out = body["outputs"][0]
    assert out["name"] == "y" and out["shape"] == [rows, 3]
    with torch.no_grad():
        want = module(torch.from_numpy(xs)).numpy()
    np.testing.assert_allclose(np.asarray(out["data"], np.float32).reshape(rows, 3), want, rtol=1e-4, atol=1e-5)


@pytest.mark.edge
def test_litert_backend_runs_any_batch_on_a_fixed_batch_model(tmp_path):
    pytest.importorskip("ai_edge_litert", reason="the litert backend needs ai-edge-litert")
    litert_torch = pytest.importorskip("litert_torch", reason="converting a test model needs litert-torch")
    import torch

    module = _module()
    model = tmp_path / "model.tflite"
    litert_torch.convert(module, (torch.zeros(1, 4),)).export(str(model))  # fixed batch 1
    config = toy_config(backend="litert", artifact="model.tflite", inputs=INPUTS, outputs=OUTPUTS, drift={})
    srv = Server(tmp_path, config, model_bytes=model.read_bytes())
    try:
        _serve_and_compare(srv, module, rows=3)  # 3 rows run as three padded batch-1 chunks
        assert srv.request("GET", f"/v2/models/{MODEL}")[2].count(b"tensorflow_lite") == 1
    finally:
        assert srv.terminate() == 0


@pytest.mark.slow
def test_torch_aoti_backend(tmp_path):
    torch = pytest.importorskip("torch", reason="the torch backend needs torch")
    module = _module()
    batch = torch.export.Dim("batch", min=1, max=64)
    program = torch.export.export(module, (torch.zeros(2, 4),), dynamic_shapes=({0: batch},))
    package = torch._inductor.aoti_compile_and_package(program, package_path=str(tmp_path / "model.pt2"))
    config = toy_config(backend="torch", artifact="model.pt2", inputs=INPUTS, outputs=OUTPUTS, drift={},
                        max_batch_size=16)
    srv = Server(tmp_path, config, model_bytes=open(package, "rb").read())
    try:
        _serve_and_compare(srv, module, rows=5)
    finally:
        assert srv.terminate() == 0


def _embedding():
    import torch

    class Embed(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.table = torch.nn.Embedding(100, 4)

        def forward(self, tokens):
            return self.table(tokens).sum(1)

    torch.manual_seed(0)
    return Embed().eval()


def _ids_past_the_table_are_a_client_error(srv: Server, datatype: str) -> None:
    srv.wait_ready(120)
    bad = {"inputs": [{"name": "tokens", "datatype": datatype, "shape": [1, 3], "data": [1, 100, 3]}]}
    status, body = srv.post_json(f"/v2/models/{MODEL}/infer", bad)
    assert status == 400 and "index out of bounds" in body["error"], body
    good = {"inputs": [{"name": "tokens", "datatype": datatype, "shape": [1, 3], "data": [1, 2, 3]}]}
    assert srv.post_json(f"/v2/models/{MODEL}/infer", good)[0] == 200
    text = srv.metrics_text()
    assert metric_value(text, "deployc_requests_total", {"outcome": "client_error"}) == 1
    assert metric_value(text, "deployc_requests_total", {"outcome": "server_error"}) == 0


def _embedding_config(datatype: str, artifact: str, backend: str, **extra):
    return toy_config(backend=backend, artifact=artifact, drift={},
                      inputs=[TensorInfo("tokens", datatype, [-1, 3], ["batch", None], None)],
                      outputs=[TensorInfo("y", "FP32", [-1, 4], ["batch", None], None)], **extra)


@pytest.mark.edge
def test_litert_index_out_of_bounds_is_a_client_error(tmp_path):
    pytest.importorskip("ai_edge_litert", reason="the litert backend needs ai-edge-litert")
    litert_torch = pytest.importorskip("litert_torch", reason="converting a test model needs litert-torch")
    import torch

    model = tmp_path / "model.tflite"
    litert_torch.convert(_embedding(), (torch.zeros(1, 3, dtype=torch.int64),)).export(str(model))
    config = _embedding_config("INT32", "model.tflite", "litert")  # the converter makes ids int32
    srv = Server(tmp_path, config, model_bytes=model.read_bytes())
    try:
        _ids_past_the_table_are_a_client_error(srv, "INT32")
    finally:
        assert srv.terminate() == 0


@pytest.mark.slow
def test_torch_aoti_index_out_of_bounds_is_a_client_error(tmp_path):
    torch = pytest.importorskip("torch", reason="the torch backend needs torch")
    batch = torch.export.Dim("batch", min=1, max=64)
    program = torch.export.export(_embedding(), (torch.zeros(2, 3, dtype=torch.int64),),
                                  dynamic_shapes=({0: batch},))
    package = torch._inductor.aoti_compile_and_package(program, package_path=str(tmp_path / "model.pt2"))
    srv = Server(tmp_path, _embedding_config("INT64", "model.pt2", "torch"),
                 model_bytes=open(package, "rb").read())
    try:
        _ids_past_the_table_are_a_client_error(srv, "INT64")
    finally:
        assert srv.terminate() == 0
