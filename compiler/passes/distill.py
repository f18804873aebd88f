"""Knowledge distillation (optimize.distill): train a smaller student on the teacher's outputs.

Classification models learn the teacher's soft targets (softmax at a temperature T, KL divergence
scaled by T^2, Hinton et al.), mixed with the hard labels' cross-entropy where the data has labels
and `hard_label_weight` > 0; other models regress the teacher's outputs (mean squared error).
Training is seeded (the student's initial weights, the batch order) and bounded by `steps`; the
trained weights are cached under the teacher's digest, the student's initial digest, the data
and the settings, so a rebuild trains nothing. The student is then exported like the teacher and
becomes the student-onnx-* candidates, verified against the original model like any other.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from compiler.candidates import Candidate
from compiler.errors import PassError, SpecError, SpecIssue
from compiler.frontend.spec import Spec
from compiler.passes.base import Artifact, PassContext, library_versions
from compiler.passes.data import Dataset, check_dataset
from compiler.passes.export_onnx import export
from compiler.passes.load import LoadedModel, call_factory, load_factory
from compiler.passes.model_digest import module_digest, recording_reads

NAME = "distill"
KEY = "optimize.distill"
CLASSIFICATION = ("classification", "text-classification")


@dataclass(frozen=True)
class Training:
    """How the student was made, for the report."""

    student: str  # the factory, or "<n> of the teacher's layers"
    data: str  # the spec key the inputs came from
    samples: int
    steps: int
    seconds: float  # wall time of the training run (the cached run's on a rebuild)
    final_loss: float
    student_parameters: int
    teacher_parameters: int


def distill(model: LoadedModel, calibration: Dataset | None, ctx: PassContext,
            exporter: str | None = None) -> tuple[Artifact, Training]:
    """`exporter`: the plan's, as for the teacher's export (None: optimize.export.exporter)."""
    spec, d = ctx.spec, ctx.spec.optimize.distill
    data, where = training_data(spec, calibration)
    build, student_digest, label = student_builder(spec, model)
    config = {k: v for k, v in d.__dict__.items() if k not in ("gates", "min_speedup", "data")}
    key = ctx.cache.key(NAME, {**config, "task": spec.model.task},
                        {"teacher": model.digest, "student": student_digest, "data": data.digest()},
                        library_versions("torch"))
    with ctx.timed(f"{NAME} ({d.steps} steps)") as event:
        entry = ctx.cache.get_or_run(key, lambda folder: _train(model, build, data, ctx, folder))
        event.cached = entry.hit
        event.detail = f"loss {entry.meta['final_loss']:.4g} after {d.steps} steps"
    student = _trained(build, entry.file("student.safetensors"))
    digest = hashlib.sha256(f"{key}:{NAME}".encode()).hexdigest()
    made = export(LoadedModel(digest, module=student), ctx, Candidate.STUDENT_ONNX_FP32.value, digest, exporter)
    training = Training(label, where, data.size, d.steps, entry.meta["seconds"], entry.meta["final_loss"],
                        entry.meta["student_parameters"], _parameters(model.module))
    return Artifact(made.candidate, "onnx", "fp32", made.path, made.sha256, (NAME,) + made.produced_by), training


def training_data(spec: Spec, calibration: Dataset | None) -> tuple[Dataset, str]:
    """optimize.distill.data when given (labels optional), else model.calibration."""
    d = spec.optimize.distill
    if d.data is None:
        if calibration is None:  # the spec rules refuse this earlier
            raise SpecError(SpecIssue(f"{KEY}.data", "no data to train on: set it or model.calibration"))
        return calibration, "model.calibration"
    if d.data.npz:
        file = spec.resolve_path(d.data.npz)
        if not file.is_file():
            raise SpecError(SpecIssue(f"{KEY}.data.npz", f"file not found: {d.data.npz}"))
        with np.load(file, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        labels = arrays.pop("labels", None)
        path = f"{KEY}.data.npz"
    else:
        path = f"{KEY}.data.factory"
        result = call_factory(load_factory(spec, d.data.factory, path), path)
        arrays, labels = result if isinstance(result, tuple) else (result, None)
        if not isinstance(arrays, dict):
            raise SpecError(SpecIssue(path, "must return {input_name: array} (and optionally labels)"))
    data = Dataset({k: np.asarray(v) for k, v in arrays.items()}, None if labels is None else np.asarray(labels), "distill")
    check_dataset(spec, data, path)
    return data, f"{path} ({d.data.npz or d.data.factory})"


def student_builder(spec: Spec, teacher: LoadedModel) -> tuple[Callable[[], Any], str, str]:
    """A function that builds the untrained student (seeded: the same initial weights every time),
    the digest of what it builds, and how the report names it."""
    import torch

    d = spec.optimize.distill
    if d.layers is not None:
        from compiler.passes.distill_layers import reduced

        def build():
            return reduced(teacher.module, d.layers, f"{KEY}.layers")
        label = f"{d.layers} of the teacher's layers"
    else:
        func = load_factory(spec, d.student, f"{KEY}.student")

        def build():
            with torch.random.fork_rng(devices=[]):  # seeded here, and the build's other passes untouched
                torch.manual_seed(d.seed)
                module = call_factory(func, f"{KEY}.student")
            if not isinstance(module, torch.nn.Module):
                raise SpecError(SpecIssue(f"{KEY}.student", f"returned {type(module).__name__}, not a torch.nn.Module"))
            return module
        label = d.student
    target = (d.student or "").rsplit(":", 1)[0]
    files = [spec.resolve_path(target)] if target.endswith(".py") else []
    with recording_reads() as seen:
        module = build()
    return build, module_digest(module, d.student or f"layers:{d.layers}", files, seen), label


def _train(teacher: LoadedModel, build: Callable[[], Any], data: Dataset, ctx: PassContext, folder) -> dict:
    import torch

    spec, d = ctx.spec, ctx.spec.optimize.distill
    names = [t.name for t in spec.model.inputs]
    inputs = [torch.from_numpy(np.ascontiguousarray(data.inputs[n])) for n in names]
    targets = _teacher_outputs(teacher.module, inputs)
    labels = None if data.labels is None or d.hard_label_weight == 0 else torch.from_numpy(data.labels).long()
    # serve.threads threads, as every runner here: the same count on every host, so the float sums
    # (and the student's bytes) do not depend on the build host's cores.
    threads = torch.get_num_threads()
    torch.set_num_threads(max(spec.serve.threads, 1))
    try:
        with torch.random.fork_rng(devices=[]):  # dropout draws from the seed, not the process's history
            torch.manual_seed(d.seed)
            return _fit(build().train(), inputs, targets, labels, ctx, folder)
    finally:
        torch.set_num_threads(threads)


def _fit(student, inputs: list, targets: list, labels, ctx: PassContext, folder) -> dict:
    import torch
    from safetensors.torch import save_file

    spec, d = ctx.spec, ctx.spec.optimize.distill
    loss_fn = _loss(spec, d.temperature, d.hard_label_weight)
    opt = torch.optim.Adam(student.parameters(), lr=d.learning_rate)
    order = torch.Generator().manual_seed(d.seed)
    n = len(inputs[0])
    batch = min(d.batch_size, n)
    start, loss = time.perf_counter(), None
    for step in range(d.steps):
        idx = torch.randint(0, n, (batch,), generator=order)
        out = student(*[x[idx] for x in inputs])
        outs = list(out) if isinstance(out, (tuple, list)) else [out]
        loss = loss_fn(outs, [t[idx] for t in targets], None if labels is None else labels[idx])
        if not math.isfinite(loss.item()):
            raise PassError(NAME, f"the loss became {loss.item()} at step {step + 1}: lower {KEY}.learning_rate "
                                  f"(now {d.learning_rate:g})")
        opt.zero_grad()
        loss.backward()
        opt.step()
        ctx.progress(NAME, step + 1, d.steps)
    seconds = time.perf_counter() - start
    student.eval()
    save_file({k: v.detach().contiguous() for k, v in student.state_dict().items()}, str(folder / "student.safetensors"))
    return {"seconds": round(seconds, 2), "final_loss": round(float(loss.item()), 6),
            "student_parameters": _parameters(student)}


def _teacher_outputs(module, inputs: list) -> list:
    import torch

    chunks = []
    with torch.no_grad():
        for i in range(0, len(inputs[0]), 256):
            out = module(*[x[i:i + 256] for x in inputs])
            chunks.append(list(out) if isinstance(out, (tuple, list)) else [out])
    return [torch.cat([c[j] for c in chunks]) for j in range(len(chunks[0]))]


def _loss(spec: Spec, temperature: float, hard_weight: float):
    import torch.nn.functional as F

    def classify(outs, targets, labels):
        s, t = outs[0] / temperature, targets[0] / temperature
        soft = F.kl_div(F.log_softmax(s, -1), F.log_softmax(t, -1), reduction="batchmean", log_target=True)
        soft = soft * temperature * temperature  # keeps the gradient's scale independent of T
        if labels is None:
            return soft
        return (1 - hard_weight) * soft + hard_weight * F.cross_entropy(outs[0], labels)

    def regress(outs, targets, labels):
        return sum(F.mse_loss(o, t) for o, t in zip(outs, targets))
    return classify if spec.model.task in CLASSIFICATION else regress


def _trained(build: Callable[[], Any], weights):
    from safetensors.torch import load_file

    module = build()
    module.load_state_dict(load_file(str(weights)))
    return module.eval()


def _parameters(module) -> int:
    return int(sum(p.numel() for p in module.parameters()))
