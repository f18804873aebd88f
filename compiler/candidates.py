"""Every candidate name, in one place: the passes make them, the planner records them, select.py
ranks them, the report shows them. A name is never typed as a string anywhere else."""

from __future__ import annotations

from enum import StrEnum


class Candidate(StrEnum):
    ONNX_FP32 = "onnx-fp32"
    ONNX_OPT = "onnx-opt"
    ONNX_TRANSFORMER_OPT = "onnx-transformer-opt"
    ONNX_FP16 = "onnx-fp16"
    ONNX_INT8_DYNAMIC = "onnx-int8-dynamic"
    ONNX_INT8_STATIC = "onnx-int8-static"
    ONNX_INT8_SMOOTHQUANT = "onnx-int8-smoothquant"  # int8 dynamic after SmoothQuant scaling
    ONNX_PRUNED = "onnx-pruned"
    AOTI_CPU = "aoti-cpu"
    AOTI_CUDA_FP32 = "aoti-cuda-fp32"
    AOTI_CUDA_FP16 = "aoti-cuda-fp16"
    AOTI_CUDA_BF16 = "aoti-cuda-bf16"
    TENSORRT_FP32 = "tensorrt-fp32"
    TENSORRT_FP16 = "tensorrt-fp16"
    TENSORRT_BF16 = "tensorrt-bf16"
    TENSORRT_INT8 = "tensorrt-int8"
    TFLITE_FP32 = "tflite-fp32"
    TFLITE_FP16 = "tflite-fp16"
    TFLITE_INT8_DYNAMIC = "tflite-int8-dynamic"
    TFLITE_INT8_STATIC = "tflite-int8-static"
    GENAI_FP32 = "genai-fp32"  # text-generation: onnxruntime-genai model builder folders
    GENAI_FP16 = "genai-fp16"
    GENAI_INT8 = "genai-int8"
    GENAI_INT4 = "genai-int4"
    # optimize.distill: a smaller student model, exported and optimized like the teacher.
    STUDENT_ONNX_FP32 = "student-onnx-fp32"
    STUDENT_ONNX_OPT = "student-onnx-opt"
    STUDENT_ONNX_INT8_DYNAMIC = "student-onnx-int8-dynamic"

    @property
    def is_student(self) -> bool:
        return self.value.startswith("student-")

    @classmethod
    def aoti_cuda(cls, precision: str) -> Candidate:
        return cls(f"aoti-cuda-{precision}")

    @classmethod
    def tensorrt(cls, precision: str) -> Candidate:
        return cls(f"tensorrt-{precision}")

    @classmethod
    def genai(cls, precision: str) -> Candidate:
        return cls(f"genai-{precision}")


# Least-changed model first: near-ties in measured latency go to the earliest (select.py).
# fp32 graphs, then half precision, then int8, then pruned weights; TFLite likewise; students last.
C = Candidate
FIDELITY: tuple[Candidate, ...] = (
    C.ONNX_TRANSFORMER_OPT, C.ONNX_OPT, C.ONNX_FP32, C.AOTI_CPU, C.AOTI_CUDA_FP32, C.TENSORRT_FP32,
    C.AOTI_CUDA_FP16, C.TENSORRT_FP16, C.ONNX_FP16, C.AOTI_CUDA_BF16, C.TENSORRT_BF16,
    C.ONNX_INT8_DYNAMIC, C.ONNX_INT8_SMOOTHQUANT, C.ONNX_INT8_STATIC, C.TENSORRT_INT8, C.ONNX_PRUNED,
    C.TFLITE_FP32, C.TFLITE_FP16, C.TFLITE_INT8_DYNAMIC, C.TFLITE_INT8_STATIC,
    C.GENAI_FP32, C.GENAI_FP16, C.GENAI_INT8, C.GENAI_INT4,
    # Another model altogether: after every form of the teacher.
    C.STUDENT_ONNX_OPT, C.STUDENT_ONNX_FP32, C.STUDENT_ONNX_INT8_DYNAMIC,
)
assert set(FIDELITY) == set(Candidate), "every candidate has a place in FIDELITY"
