"""triton/: a Triton Inference Server model repository and its image, for serve.engine: triton.

    triton/<model>/config.pbtxt   a ModelConfig message (tritonclient's generated model_config_pb2)
                                  serialized with protobuf's text_format: deterministic, and only
                                  fields the schema has
    triton/<model>/1/model.onnx   the selected artifact (model.plan for a TensorRT engine)
    triton/Dockerfile             FROM Triton's image, the repository copied in, non-root

ONNX runs on onnxruntime's CUDA provider with TensorRT as accelerator: engines are built on the
target GPU at first load, over the same optimization profile as the in-compiler build, and kept
on a volume. Triton's own metrics (nv_inference_*) are not deployc's catalog: the planner skips
the monitoring and kubernetes emitters for this engine and says why.
"""

from __future__ import annotations

from compiler.emitters.base import EmitContext, Files, SelectedArtifact
from compiler.emitters.runtime_config import TRT_CACHE
from compiler.emitters.templating import render
from compiler.errors import DeploycError
from compiler.frontend.spec import Spec, TensorSpec
from compiler.gpu import WORKSPACE_BYTES, ort_profile_options
from compiler.planner import EngineConfig, target_engine
from compiler.runtime.config import DATATYPES

TRITON_RELEASE = "25.12"
UID = 1000  # the image's triton-server user
REPOSITORY = "/models"
PORTS = {"http": 8000, "grpc": 8001, "metrics": 8002}
# Format of the selected artifact -> (Triton platform, file name in the version folder).
PLATFORMS = {"onnx": ("onnxruntime_onnx", "model.onnx"), "trt": ("tensorrt_plan", "model.plan")}


def _pb2():
    try:
        from tritonclient.grpc import model_config_pb2
    except (ImportError, RuntimeError) as exc:  # tritonclient raises RuntimeError without grpc support
        raise DeploycError("serve.engine triton needs the tritonclient[grpc] package "
                           f"(it ships Triton's model config schema): {exc}") from None
    return model_config_pb2


def model_config(spec: Spec, selected: SelectedArtifact):
    """The ModelConfig message for the selected artifact."""
    pb = _pb2()
    platform, _ = _platform(selected)
    batching = _batched(spec)
    b = spec.serve.batching
    config = pb.ModelConfig(name=spec.name, platform=platform, max_batch_size=b.max_batch_size if batching else 0)
    config.input.extend(pb.ModelInput(name=t.name, data_type=_dtype(pb, t), dims=_dims(t, batching))
                        for t in spec.model.inputs)
    config.output.extend(pb.ModelOutput(name=t.name, data_type=_dtype(pb, t), dims=_dims(t, batching))
                         for t in spec.model.outputs)
    config.instance_group.add(count=1, kind=pb.ModelInstanceGroup.KIND_GPU)
    if batching:
        config.dynamic_batching.preferred_batch_size.extend(sorted({max(1, b.max_batch_size // 2), b.max_batch_size}))
        config.dynamic_batching.max_queue_delay_microseconds = round(b.max_queue_delay_ms * 1000)
    if selected.format == "onnx":
        accelerator = config.optimization.execution_accelerators.gpu_execution_accelerator.add(name="tensorrt")
        accelerator.parameters.update(_tensorrt_parameters(target_engine(spec)))
    return config


def _platform(selected: SelectedArtifact) -> tuple[str, str]:
    if selected.format not in PLATFORMS:
        raise DeploycError(f"serve.engine: triton serves ONNX or a TensorRT engine; the selected candidate "
                           f"{selected.candidate} is {selected.format}")
    return PLATFORMS[selected.format]


def _batched(spec: Spec) -> bool:
    # Triton's batch dim is implicit and leading; every tensor must have a symbolic one.
    tensors = spec.model.inputs + spec.model.outputs
    return spec.serve.batching.enabled and all(isinstance(t.shape[0], str) for t in tensors)


def _dtype(pb, t: TensorSpec) -> int:
    return pb.DataType.Value(f"TYPE_{DATATYPES[t.dtype]}")


def _dims(t: TensorSpec, batched: bool) -> list[int]:
    shape = t.shape[1:] if batched else t.shape
    return [d if isinstance(d, int) else -1 for d in shape]


def _tensorrt_parameters(engine: EngineConfig) -> dict[str, str]:
    """onnxruntime's TensorRT EP, as Triton's onnxruntime backend names its options; the engine's
    precision and profile are the plan's (planner.target_engine)."""
    params = {
        # ORT's TensorRT EP has fp16 here; bf16 targets keep fp32 engines.
        "precision_mode": "FP16" if engine.precision == "fp16" else "FP32",
        "max_workspace_size_bytes": str(WORKSPACE_BYTES),
        "trt_engine_cache_enable": "1", "trt_engine_cache_path": TRT_CACHE,
        "trt_timing_cache_enable": "1", "trt_timing_cache_path": TRT_CACHE,
    }
    params.update(ort_profile_options(engine.profile))
    return params


def base_image(spec: Spec) -> str:
    # Jetson (an L4T base) runs Triton's iGPU build; discrete GPUs the standard one (amd64 and arm64).
    suffix = "-py3-igpu" if "l4t" in spec.target.image.base else "-py3"
    return f"nvcr.io/nvidia/tritonserver:{TRITON_RELEASE}{suffix}"


def dockerfile(spec: Spec, selected: SelectedArtifact) -> str:
    return render("triton.Dockerfile.j2", model=spec.name, version=spec.version, target=spec.target.name,
                  base=base_image(spec), platform=spec.target.image.platform, uid=UID, repository=REPOSITORY,
                  ports=PORTS, engine_cache=TRT_CACHE if selected.format == "onnx" else "",
                  image=f"{spec.image.repository or spec.name}:{spec.version}")


class TritonEmitter:
    name = "triton"

    def emit(self, ctx: EmitContext) -> Files:
        sel = ctx.selected
        if sel is None:
            return {}
        from google.protobuf import text_format

        _, file = _platform(sel)
        text = text_format.MessageToString(model_config(ctx.spec, sel))
        name = ctx.spec.name
        return {
            f"triton/{name}/config.pbtxt": text.encode(),
            f"triton/{name}/1/{file}": sel.path,
            "triton/Dockerfile": dockerfile(ctx.spec, sel).encode(),
        }
