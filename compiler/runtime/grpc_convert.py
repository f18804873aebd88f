"""gRPC messages to and from the request form the HTTP side validates (protocol.decode_doc).

A ModelInferRequest becomes the JSON document and binary tail of an HTTP binary-tensor
request: `raw_input_contents[i]` is input i's `binary_data_size` bytes, typed `contents` are
its `data` (BYTES contents are packed as the binary extension's length-prefixed elements).
So every check (names, datatypes, shapes, shared dims, ranges, sizes, text limits) is the one
the HTTP side runs, and its messages name the same fields. Responses always carry
raw_output_contents, as Triton's do.
"""

from __future__ import annotations

import struct

import grpc
import numpy as np

from . import grpc_predict_v2_pb2 as pb
from .errors import InferError
from .protocol import InferRequest, Signature, decode_doc, dtype_name
from .text_protocol import BYTES, bytes_elements

# The typed-contents field each datatype is carried in (the protocol's InferTensorContents).
CONTENTS = {
    "BOOL": "bool_contents", "INT8": "int_contents", "INT16": "int_contents", "INT32": "int_contents",
    "INT64": "int64_contents", "UINT8": "uint_contents", "UINT16": "uint_contents",
    "UINT32": "uint_contents", "UINT64": "uint64_contents", "FP32": "fp32_contents",
    "FP64": "fp64_contents", BYTES: "bytes_contents",
}
# The error classes' HTTP statuses as gRPC codes: one mapping for every error the HTTP side knows.
CODES = {
    400: grpc.StatusCode.INVALID_ARGUMENT, 404: grpc.StatusCode.NOT_FOUND,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED, 415: grpc.StatusCode.INVALID_ARGUMENT,
    500: grpc.StatusCode.INTERNAL, 503: grpc.StatusCode.UNAVAILABLE, 504: grpc.StatusCode.DEADLINE_EXCEEDED,
}


def code_of(exc: InferError) -> grpc.StatusCode:
    return CODES.get(exc.status, grpc.StatusCode.INVALID_ARGUMENT if exc.status < 500 else grpc.StatusCode.INTERNAL)


def param_value(param: pb.InferParameter):
    choice = param.WhichOneof("parameter_choice")
    return None if choice is None else getattr(param, choice)


def _params(mapping) -> dict:
    return {key: param_value(value) for key, value in mapping.items()}


def request_doc(msg: pb.ModelInferRequest) -> tuple[dict, bytes]:
    """The message as protocol.decode_doc's input: the JSON-form document and the binary tail."""
    raw = msg.raw_input_contents
    if raw and len(raw) != len(msg.inputs):
        raise InferError(f"raw_input_contents: {len(raw)} entries, but there are {len(msg.inputs)} inputs "
                         "(one per input, in the order of inputs)")
    items: list[dict] = []
    blobs: list[bytes] = []
    for i, tensor in enumerate(msg.inputs):
        item = {"name": tensor.name, "datatype": tensor.datatype, "shape": list(tensor.shape)}
        if raw:
            if tensor.HasField("contents"):
                raise InferError(f"inputs[{i}] ({tensor.name!r}).contents: not allowed with raw_input_contents")
            item["parameters"] = {"binary_data_size": len(raw[i])}
            blobs.append(raw[i])
        elif tensor.HasField("contents"):
            _typed(tensor, i, item, blobs)
        items.append(item)  # neither: decode_doc names the missing data
    doc = {"inputs": items, "parameters": _params(msg.parameters)}
    if msg.id:
        doc["id"] = msg.id
    if msg.outputs:
        doc["outputs"] = [{"name": o.name, "parameters": _params(o.parameters)} for o in msg.outputs]
    return doc, blobs[0] if len(blobs) == 1 else b"".join(blobs)


def _typed(tensor, i: int, item: dict, blobs: list[bytes]) -> None:
    where = f"inputs[{i}] ({tensor.name!r}).contents"
    field = CONTENTS.get(tensor.datatype)
    given = [f.name for f, _ in tensor.contents.ListFields()]
    if field is None or given != [field]:
        want = f"only {field}" if field else "raw_input_contents (no typed field carries it)"
        raise InferError(f"{where}: datatype {tensor.datatype!r} takes {want}, got {given or 'nothing'}")
    values = getattr(tensor.contents, field)
    if tensor.datatype == BYTES:  # the binary extension's elements: a 4-byte length, then the bytes
        blob = b"".join(struct.pack("<I", len(v)) + v for v in values)
        item["parameters"] = {"binary_data_size": len(blob)}
        blobs.append(blob)
    else:
        item["data"] = list(values)


def decode_message(msg: pb.ModelInferRequest, sig: Signature) -> InferRequest:
    doc, binary = request_doc(msg)
    return decode_doc(doc, binary, sig)


def response(req: InferRequest, results: dict[str, np.ndarray], model: str, version: str) -> pb.ModelInferResponse:
    out = pb.ModelInferResponse(model_name=model, model_version=version, id=req.id or "")
    for name in req.outputs:
        arr = results[name]
        strings = arr.dtype == object  # a BYTES output (entities.py): length-prefixed elements
        out.outputs.add(name=name, datatype="BYTES" if strings else dtype_name(arr.dtype), shape=arr.shape)
        out.raw_output_contents.append(bytes_elements(arr) if strings else np.ascontiguousarray(arr).tobytes())
    return out
