"""nn.MultiheadAttention in its export form (one in_proj MatMul, MatMul-Softmax-MatMul): the same
numbers as torch's own forward for every call it takes, torch's forward for every call it does
not, fewer ONNX nodes, and dynamic batch and sequence through both exporters."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from compiler.frontend import load_spec
from compiler.passes.base import PassContext
from compiler.passes.cache import Cache
from compiler.passes.export_attention import export_form
from compiler.passes.export_onnx import export
from compiler.passes.load import load_model

B, L, S, E, H = 3, 5, 7, 16, 4


def _mha(**kwargs) -> nn.MultiheadAttention:
    torch.manual_seed(0)
    return nn.MultiheadAttention(E, H, **kwargs).eval()


def _both(m: nn.MultiheadAttention, *args, **kwargs):
    """torch's forward, then the export form, on the same call; and whether the export form ran."""
    with torch.no_grad():
        want = m(*args, **kwargs)
        with export_form(m) as used:
            got = m(*args, **kwargs)
    return want, got, bool(used)


def _x(*shape):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(sum(shape)))


def _masks():
    pad = torch.zeros(B, S, dtype=torch.bool)
    pad[0, -2:] = True
    causal = torch.triu(torch.ones(L, S, dtype=torch.bool), diagonal=1)
    return {
        "none": {},
        "padding bool": {"key_padding_mask": pad},
        "padding float": {"key_padding_mask": pad.float() * -1e4},
        "attn 2d bool": {"attn_mask": causal},
        "attn 2d float": {"attn_mask": _x(L, S)},
        "attn 3d float": {"attn_mask": _x(B * H, L, S)},
        "attn and padding": {"attn_mask": causal, "key_padding_mask": pad},
    }


@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("masks", list(_masks()))
def test_cross_attention_matches_torch(batch_first, bias, masks):
    m = _mha(batch_first=batch_first, bias=bias)
    q, kv = (_x(B, L, E), _x(B, S, E)) if batch_first else (_x(L, B, E), _x(S, B, E))
    (want, none), (got, weights), ran = _both(m, q, kv, kv, need_weights=False, **_masks()[masks])
    assert ran and none is None and weights is None
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("batch_first", [True, False])
def test_a_row_with_every_key_masked_is_zero_as_in_torch(batch_first):
    """torch's attention gives such a row 0 (its safe softmax); a plain softmax gives NaN."""
    m = _mha(batch_first=batch_first)
    q, kv = (_x(B, L, E), _x(B, S, E)) if batch_first else (_x(L, B, E), _x(S, B, E))
    pad = torch.zeros(B, S, dtype=torch.bool)
    pad[1] = True  # the second sequence has no key at all
    (want, _), (got, _), ran = _both(m, q, kv, kv, need_weights=False, key_padding_mask=pad)
    assert ran and not torch.isnan(want).any() and not torch.isnan(got).any()
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


def test_seq_first_output_is_contiguous_and_out_proj_hooks_do_not_run():
    """torch's forward makes a contiguous [seq, batch, embed] output with F.linear (no hooks)."""
    m = _mha(batch_first=False)
    calls = []
    m.out_proj.register_forward_hook(lambda *_: calls.append(1))
    x = _x(S, B, E)
    (want, _), (got, _), ran = _both(m, x, x, x, need_weights=False)
    assert ran and got.is_contiguous() and got.view(S * B, E).shape == (S * B, E)
    assert calls == []
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("batch_first", [True, False])
def test_self_attention_matches_torch_through_an_encoder_layer(batch_first):
    """The call nn.TransformerEncoderLayer makes: q is k is v, need_weights=False, padding mask."""
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(E, H, dim_feedforward=32, dropout=0.0, batch_first=batch_first).eval()
    x = _x(B, S, E) if batch_first else _x(S, B, E)
    pad = torch.zeros(B, S, dtype=torch.bool)
    pad[1, -3:] = True
    with torch.no_grad():
        want = layer(x, src_key_padding_mask=pad)
        with export_form(layer) as used:
            got = layer(x, src_key_padding_mask=pad)
    assert used == {id(layer.self_attn)}
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("call", ["need_weights", "is_causal", "unbatched", "mask in another dtype"])
def test_calls_it_does_not_cover_run_torchs_forward(call):
    m = _mha(batch_first=True)
    causal = nn.Transformer.generate_square_subsequent_mask(S).bool()
    x = _x(S, E) if call == "unbatched" else _x(B, S, E)
    kwargs = {"need_weights": call == "need_weights"}
    if call == "is_causal":
        kwargs |= {"attn_mask": causal, "is_causal": True}
    if call == "mask in another dtype":  # torch takes a float32 mask with a float64 query
        m, x = m.double(), x.double()
        kwargs |= {"attn_mask": _x(S, S)}
    (want, want_w), (got, got_w), ran = _both(m, x, x, x, **kwargs)
    assert not ran  # torch's forward, without its fast path inside the block: last bits only
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    if call == "need_weights":
        torch.testing.assert_close(got_w, want_w, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kwargs", [{"kdim": 8, "vdim": 8}, {"add_bias_kv": True}, {"add_zero_attn": True}])
def test_modules_it_does_not_cover_are_left_alone(kwargs):
    m = _mha(batch_first=True, **kwargs)
    with export_form(m):
        assert "forward" not in vars(m)


def test_a_subclass_with_its_own_forward_is_left_alone():
    class Mine(nn.MultiheadAttention):
        def forward(self, *args, **kwargs):
            return super().forward(*args, **kwargs)

    mine = Mine(E, H)
    with export_form(nn.Sequential(mine)):
        assert "forward" not in vars(mine)


def test_torchs_forward_and_fast_path_come_back_after_the_block_and_after_an_error():
    """Inside, the fused fast paths are off: nn.TransformerEncoderLayer's would skip the attention
    module, and the TorchScript exporter has no translation for it (even with frozen weights)."""
    m = _mha(batch_first=True)
    with pytest.raises(RuntimeError, match="inside"):
        with export_form(m):
            assert "forward" in vars(m) and not torch.backends.mha.get_fastpath_enabled()
            raise RuntimeError("inside")
    assert "forward" not in vars(m) and torch.backends.mha.get_fastpath_enabled()


SPEC = """
name: encoder
version: "1"
model:
  factory: model.py:build
  task: embedding
  inputs: [{{name: input_ids, dtype: int64, shape: [batch, seq], range: [0, 99]}}]
  outputs: [{{name: embedding, dtype: float32, shape: [batch, 32]}}]
optimize:
  precisions: [fp32]
  {export}
"""

MODEL = """
import torch
from torch import nn
class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(100, 32)
        layer = nn.TransformerEncoderLayer(32, 4, dim_feedforward=64, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
    def forward(self, input_ids):
        return self.encoder(self.embed(input_ids)).mean(dim=1)
def build():
    torch.manual_seed(0)
    return Encoder().eval().requires_grad_(False)  # frozen: torch's fused encoder path would be taken
"""


def _spec(tmp_path: Path, export_line: str = ""):
    (tmp_path / "model.py").write_text(textwrap.dedent(MODEL))
    (tmp_path / "deploy.yaml").write_text(SPEC.format(export=export_line))
    return load_spec(tmp_path / "deploy.yaml")


@pytest.mark.parametrize("exporter", ["dynamo", "torchscript"])
def test_an_encoders_export_is_smaller_and_dynamic(tmp_path, exporter):
    import onnx
    import onnxruntime as ort

    spec = _spec(tmp_path, f"export: {{exporter: {exporter}}}")
    model = load_model(spec)
    art = export(model, PassContext(spec, Cache(tmp_path / "cache")))
    assert art.produced_by[0].endswith("2 nn.MultiheadAttention in export form)")
    assert "forward" not in vars(model.module.encoder.layers[0].self_attn)  # the reference is untouched

    plain = tmp_path / "plain.onnx"  # torch's own forward, exported: the graph the export form replaces
    dims = {"dynamic_shapes": ({0: torch.export.Dim("batch"), 1: torch.export.Dim("seq", max=1024)},)} \
        if exporter == "dynamo" else {"dynamic_axes": {"input_ids": [0, 1]}}
    torch.backends.mha.set_fastpath_enabled(False)  # frozen weights: the fused path has no export
    try:
        torch.onnx.export(model.module, (torch.zeros(2, 16, dtype=torch.long),), str(plain),
                          dynamo=exporter == "dynamo", input_names=["input_ids"], **dims)
    finally:
        torch.backends.mha.set_fastpath_enabled(True)
    assert len(onnx.load(str(art.path)).graph.node) < len(onnx.load(str(plain)).graph.node)
    ids = np.random.default_rng(2).integers(0, 100, size=(3, 29))  # batch and seq never traced
    got = ort.InferenceSession(str(art.path), providers=["CPUExecutionProvider"]).run(None, {"input_ids": ids})[0]
    with torch.no_grad():
        want = model.module(torch.from_numpy(ids)).numpy()
    assert got.shape == (3, 32) and np.abs(got - want).max() < 1e-5
    ops = [n.op_type for n in onnx.load(str(art.path)).graph.node]
    assert ops.count("Softmax") == 2 and ops.count("Gemm") == 0  # torch's form exports out_proj as Gemm after a reshape to 2-D
