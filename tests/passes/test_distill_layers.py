"""optimize.distill.layers: a transformer student cut from the teacher's own layers (tiny BERT)."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from compiler.errors import SpecError
from compiler.frontend import load_spec
from compiler.passes import distill
from compiler.passes.base import PassContext
from compiler.passes.cache import Cache
from compiler.passes.data import load_dataset
from compiler.passes.distill_layers import reduced
from compiler.passes.load import load_model
from tests.text_models import text_spec, tiny_bert

ROWS = [{"text": s, "label": i % 3} for i, s in enumerate(["good", "bad film", "it was fine, I suppose", "awful"] * 4)]


def _spec(tmp_path, layers: int):
    folder = tiny_bert(tmp_path / "model", classifier=True, seed=4)  # 2 layers
    extra = f"  calibration: {{text: eval.jsonl}}\noptimize:\n  distill: {{layers: {layers}, steps: 3}}\n"
    return load_spec(text_spec(folder, "text-classification", rows=ROWS, extra=extra))


def test_a_depth_reduction_keeps_the_teachers_layers_it_names(tmp_path):
    import torch

    teacher = load_model(_spec(tmp_path, 1)).module
    student = reduced(teacher, 1, "optimize.distill.layers")
    t_layers, s_layers = teacher.model.bert.encoder.layer, student.model.bert.encoder.layer
    assert (len(t_layers), len(s_layers), student.model.config.num_hidden_layers) == (2, 1, 1)
    assert teacher.model.config.num_hidden_layers == 2  # the teacher is untouched
    assert all(torch.equal(a, b) for a, b in zip(s_layers[0].parameters(), t_layers[0].parameters()))
    with pytest.raises(SpecError, match="the teacher has 2 layers: a student keeps fewer"):
        reduced(teacher, 2, "optimize.distill.layers")


def test_the_reduced_student_trains_and_exports(tmp_path):
    spec = _spec(tmp_path, 1)
    model = load_model(spec)
    calibration = load_dataset(spec, "calibration")
    artifact, training = distill.distill(model, calibration, PassContext(spec, Cache(tmp_path / "cache")), "torchscript")
    assert training.student == "1 of the teacher's layers" and training.steps == 3
    assert training.student_parameters < training.teacher_parameters
    out = ort.InferenceSession(str(artifact.path), providers=["CPUExecutionProvider"]).run(None, calibration.inputs)[0]
    assert out.shape == (16, 3) and np.isfinite(out).all()
    # BERT trains with dropout: seeded too, so another cache trains the same bytes
    again, _ = distill.distill(model, calibration, PassContext(spec, Cache(tmp_path / "again")), "torchscript")
    assert again.sha256 == artifact.sha256
