"""In-compiler TensorRT engine build (TensorRT 10 Python API).

ONNX parser -> builder config (fp16 / bf16, or int8 calibrated on the spec's calibration data
with IInt8EntropyCalibrator2; one optimization profile over the signature's dynamic dims; a
timing cache kept beside the pass cache) -> a serialized engine, `model.plan`.

It runs only where `import tensorrt` works and the host GPU has the target's compute capability
(compiler/gpu.py; elsewhere the planner's step says why). An engine is specific to the GPU
architecture and TensorRT version it was built with, so both go into the artifact's pass chain
(report.json, hence the lock) and its cache entry's meta. Targets whose GPU is not the build
host's get their engines built on the target GPU at first load instead (onnxruntime's TensorRT
execution provider with an engine cache, or Triton's TensorRT accelerator), over the same
profile: `profile_for` and `ort_profile_options` (compiler/gpu.py) are shared with those paths.
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict
from pathlib import Path

import numpy as np

from compiler.candidates import Candidate
from compiler.errors import PassError
from compiler.frontend.spec import Spec
from compiler.passes.base import Artifact, PassContext
from compiler.digest import sha256_file
from compiler.gpu import (WORKSPACE_BYTES, Profile, cuda_precision, host_compute_capability,  # noqa: F401
                          ort_profile_options, profile_for)
from compiler.passes.data import Dataset
from compiler.planner import StepConfig

NAME = "tensorrt"
FLAGS = {"fp32": (), "fp16": ("FP16",), "bf16": ("BF16",), "int8": ("FP16", "INT8")}  # int8: fp16 fallback


def build_engine(base: Artifact, calibration: Dataset | None, ctx: PassContext, config: StepConfig) -> Artifact:
    """Precision and profile come from the plan's tensorrt step; int8 calibrates at the opt shape,
    so its non-batch opt dims follow the calibration data (planner.py, variant calibrated-opt-shapes)."""
    import tensorrt as trt

    spec = ctx.spec
    precision = config.precision
    if precision == "int8" and calibration is None:
        raise PassError(NAME, "the plan asks for an int8 engine and model.calibration gave no data")
    profile = profile_for(spec, calibration) if precision == "int8" else config.profile
    cc, gpu = host_compute_capability(), _gpu_name()
    config = {"precision": precision, "profile": asdict(profile), "workspace": WORKSPACE_BYTES,
              "compute_capability": cc, "gpu": gpu}
    inputs = {"model": base.sha256}
    if precision == "int8":
        inputs["calibration"] = calibration.digest()
    key = ctx.cache.key(NAME, config, inputs, {"tensorrt": trt.__version__})
    timing = ctx.cache.root / NAME / f"timing-{re.sub(r'[^A-Za-z0-9.]+', '-', gpu)}-trt{trt.__version__}.cache"
    with ctx.timed(f"{NAME} ({precision})") as event:
        entry = ctx.cache.get_or_run(key, lambda d: _build(base.path, d / "model.plan", precision, profile,
                                                           calibration, timing))
        event.cached = entry.hit
        event.detail = f"sm {cc}, TensorRT {trt.__version__}"
    path = entry.file("model.plan")
    chain = base.produced_by + (f"{NAME} {entry.meta['tensorrt']} (sm {entry.meta['compute_capability']})",)
    return Artifact(Candidate.tensorrt(precision).value, "trt", precision, path, sha256_file(path), chain)


def _gpu_name() -> str:
    import torch

    return torch.cuda.get_device_name(0)


def _build(src: Path, out: Path, precision: str, profile: Profile, calibration: Dataset | None,
           timing_file: Path) -> dict:
    import tensorrt as trt

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # TensorRT 10: every network is explicit-batch
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(src)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise PassError(NAME, f"TensorRT's ONNX parser rejected the model: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES)
    trt_profile = _add_profile(builder, config, profile)
    for flag in FLAGS[precision]:
        config.set_flag(getattr(trt.BuilderFlag, flag))
    calibrator = None  # referenced until the build ends: TensorRT calls back into it
    if precision == "int8":
        calibrator = _calibrator(trt, calibration, profile)
        config.int8_calibrator = calibrator  # deprecated since 10.1 (explicit Q/DQ), still honoured in 10.x
        if trt_profile is not None:
            config.set_calibration_profile(trt_profile)
    _load_timing_cache(config, timing_file)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise PassError(NAME, f"the TensorRT builder produced no {precision} engine (its log above says why)")
    out.write_bytes(serialized)
    _save_timing_cache(config, timing_file)
    return {"compute_capability": host_compute_capability(), "gpu": _gpu_name(), "tensorrt": trt.__version__,
            "precision": precision, "profile": asdict(profile), "calibrated": calibrator is not None}


def _add_profile(builder, config, profile: Profile):
    if not profile.min:
        return None
    trt_profile = builder.create_optimization_profile()
    for name in profile.min:
        trt_profile.set_shape(name, profile.min[name], profile.opt[name], profile.max[name])
    config.add_optimization_profile(trt_profile)
    return trt_profile


def _load_timing_cache(config, path: Path) -> None:
    # Layer timings from earlier builds on this GPU: faster rebuilds and the same tactic choices.
    blob = path.read_bytes() if path.is_file() else b""
    if not config.set_timing_cache(config.create_timing_cache(blob), ignore_mismatch=False):
        config.set_timing_cache(config.create_timing_cache(b""), ignore_mismatch=False)


def _save_timing_cache(config, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp-{os.getpid()}")
    tmp.write_bytes(config.get_timing_cache().serialize())
    os.replace(tmp, path)  # concurrent sweeps: last writer wins, never a torn file


def calibration_batches(data: Dataset, profile: Profile, names: list[str]) -> list[dict[str, np.ndarray]]:
    """The calibration data cut into batches of the profile's opt shape (TensorRT calibrates a
    dynamic-shape network at kOPT); samples repeat to fill the last batch."""
    batch = next(iter(profile.opt.values()))[0] if profile.opt else len(next(iter(data.inputs.values())))
    n = data.size
    count = max(1, -(-n // batch))
    index = np.arange(count * batch) % n
    return [{k: np.ascontiguousarray(data.inputs[k][index[i * batch:(i + 1) * batch]]) for k in names}
            for i in range(count)]


def _calibrator(trt, data: Dataset, profile: Profile):
    import torch

    batches = calibration_batches(data, profile, list(data.inputs))

    class EntropyCalibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self) -> None:
            super().__init__()
            self.next = 0
            self.live: list = []  # device copies of the current batch, alive until the next call

        def get_batch_size(self) -> int:
            return len(next(iter(batches[0].values())))

        def get_batch(self, names):
            if self.next >= len(batches):
                return None
            batch = batches[self.next]
            self.next += 1
            self.live = [torch.from_numpy(batch[name]).cuda() for name in names]
            torch.cuda.synchronize()
            return [t.data_ptr() for t in self.live]

        def read_calibration_cache(self):
            return None  # the whole engine is cached by content; no separate table to reuse

        def write_calibration_cache(self, cache) -> None:
            return None

    return EntropyCalibrator()


def trt_runner(path: Path, threads: int):
    """Runs a serialized engine on this host's GPU: numpy in, numpy out, batches above the
    profile's max split into chunks. Buffers are torch CUDA tensors (no pycuda needed)."""
    import tensorrt as trt
    import torch

    runtime = trt.Runtime(trt.Logger(trt.Logger.ERROR))
    engine = runtime.deserialize_cuda_engine(Path(path).read_bytes())
    if engine is None:
        raise RuntimeError("TensorRT could not deserialize the engine (built for another GPU or TensorRT version?)")
    context = engine.create_execution_context()
    names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
    inputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
    outputs = [n for n in names if n not in inputs]
    dims0 = [engine.get_tensor_shape(n)[0] for n in inputs]
    limit = engine.get_tensor_profile_shape(inputs[0], 0)[2][0] if -1 in dims0 else None
    stream = torch.cuda.Stream()

    def run_once(batch: dict[str, np.ndarray]) -> list[np.ndarray]:
        with torch.cuda.stream(stream):
            held = []
            for name in inputs:
                tensor = torch.from_numpy(np.ascontiguousarray(batch[name])).cuda(non_blocking=False)
                context.set_input_shape(name, tuple(tensor.shape))
                context.set_tensor_address(name, tensor.data_ptr())
                held.append(tensor)
            results = []
            for name in outputs:
                dtype = torch.from_numpy(np.empty(0, dtype=trt.nptype(engine.get_tensor_dtype(name)))).dtype
                tensor = torch.empty(tuple(context.get_tensor_shape(name)), dtype=dtype, device="cuda")
                context.set_tensor_address(name, tensor.data_ptr())
                results.append(tensor)
            if not context.execute_async_v3(stream.cuda_stream):
                raise RuntimeError("TensorRT execution failed")
        stream.synchronize()
        return [r.cpu().numpy() for r in results]

    def run(batch: dict[str, np.ndarray]) -> list[np.ndarray]:
        n = len(next(iter(batch.values())))
        if limit is None or n <= limit:
            return run_once(batch)
        parts = [run_once({k: v[i:i + limit] for k, v in batch.items()}) for i in range(0, n, limit)]
        return [np.concatenate([p[j] for p in parts]) for j in range(len(parts[0]))]
    run.keep_alive = (runtime, engine, context)  # the engine must not outlive its runtime
    return run
