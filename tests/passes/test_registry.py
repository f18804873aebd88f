"""Pass and runner registries: explicit registration, a duplicate or a missing name is an error
that says so (not a bare KeyError)."""

import pytest

from compiler.candidates import Candidate
from compiler.errors import DeploycError, PassError
from compiler.frontend import load_spec
from compiler.passes import registry, runners
from tests.conftest import EXAMPLES


def test_a_missing_pass_names_the_known_ones():
    with pytest.raises(DeploycError, match=r"no pass named 'no-such-pass' is registered \(known: onnx-export, "):
        registry.get("no-such-pass")


def test_a_pass_registered_twice_is_refused():
    with pytest.raises(ValueError, match="'fp16' is registered twice"):
        registry.register(registry.PassDef("fp16", (Candidate.ONNX_FP16,), lambda *a: None))


def test_legality_is_the_targets_pass_list():
    from compiler.planner import legal

    spec = load_spec(EXAMPLES / "digits-cnn" / "deploy.yaml", ["target=android-arm64"])
    assert legal(spec, "tflite-quantize") is None  # listed as `tflite` by the target
    assert legal(spec, "fp16") == "target android-arm64 does not run fp16"


def test_a_missing_runner_is_a_pass_error_naming_the_registered_formats(tmp_path):
    with pytest.raises(PassError, match=r"no runner for artifact format 'mlir' \(registered: onnx, pt2, tflite, trt\)"):
        runners.runner_for("mlir", tmp_path / "model.mlir", 1)


def test_a_runner_registered_twice_is_refused():
    with pytest.raises(ValueError, match="runner for format 'onnx' is already registered"):
        runners.register("onnx", lambda path, threads: None)
