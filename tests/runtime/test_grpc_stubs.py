"""The committed gRPC stubs are exactly what proto/generate.py makes from the vendored .proto."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_regenerating_the_stubs_gives_identical_bytes(tmp_path):
    spec = importlib.util.spec_from_file_location("proto_generate", ROOT / "proto" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    written = module.generate(tmp_path)
    assert [p.name for p in written] == ["grpc_predict_v2_pb2.py", "grpc_predict_v2_pb2_grpc.py"]
    for path in written:
        committed = ROOT / "compiler" / "runtime" / path.name
        assert path.read_bytes() == committed.read_bytes(), f"{committed} is stale: run `make proto`"
