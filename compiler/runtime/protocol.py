"""Open Inference Protocol v2 tensors: decode and validate a request, encode a response.

JSON tensors (flat or nested row-major `data`) and the binary tensor extension
(`Inference-Header-Content-Length`, `binary_data_size` on inputs, `binary_data` on outputs)
as tritonclient sends them. Every refusal names the field at fault.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass, field

import numpy as np

from . import strictjson
from .config import RuntimeConfig, TensorInfo
from .entities import extra_outputs
from .errors import InferError, NotFound, ServerError
from .text_protocol import BYTES, bytes_elements, bytes_json, text_input

DTYPES: dict[str, np.dtype] = {
    name: np.dtype(np_name) for name, np_name in (
        ("BOOL", "bool"), ("UINT8", "uint8"), ("UINT16", "uint16"), ("UINT32", "uint32"),
        ("UINT64", "uint64"), ("INT8", "int8"), ("INT16", "int16"), ("INT32", "int32"),
        ("INT64", "int64"), ("FP16", "float16"), ("FP32", "float32"), ("FP64", "float64"),
    )
}
PROTOCOL_NAMES: dict[str, str] = {dt.name: name for name, dt in DTYPES.items()}
# Which JSON value kinds (numpy dtype.kind of np.asarray(data)) each datatype accepts:
# integers are fine for floats, floats are not silently truncated to integers.
ACCEPTED_KINDS = {"b": "b", "u": "iu", "i": "iu", "f": "iuf"}


@dataclass(frozen=True)
class Signature:
    """What the model takes and gives, plus the batching limits that shape validation needs."""

    inputs: dict[str, TensorInfo]
    outputs: tuple[str, ...]
    batching: bool
    max_batch_size: int
    text: str | None = None  # the BYTES input of a text model; None: the model takes no text

    @classmethod
    def of(cls, config: RuntimeConfig) -> "Signature":
        outputs = config.outputs + extra_outputs(config)
        return cls({t.name: t for t in config.inputs}, tuple(t.name for t in outputs),
                   config.batching, config.max_batch_size, config.text.input if config.text else None)


@dataclass
class InferRequest:
    inputs: dict[str, np.ndarray]
    outputs: tuple[str, ...]
    binary_outputs: frozenset[str]
    id: str | None = None
    timeout_s: float | None = None  # the client's own `timeout` parameter (microseconds on the wire)
    rows: int = 1
    key: tuple = field(default=())  # shape signature: requests are batched only with equal keys
    texts: list[str] | None = None  # a text request: the strings, before tokenizing
    text_where: str = ""  # the request field that held them (errors name it)
    tokens: object = None  # text.Tokens once tokenized; the engine pads them per batch


_BY_DTYPE: dict[np.dtype, str] = {dt: name for name, dt in DTYPES.items()}


def dtype_name(dtype: np.dtype) -> str:
    try:
        return _BY_DTYPE[dtype]
    except KeyError:
        raise ServerError(f"output dtype {np.dtype(dtype).name} has no protocol datatype") from None


def decode(body: bytes, header_length: str | None, sig: Signature) -> InferRequest:
    head, binary = _split(body, header_length)
    doc = strictjson.loads(head)
    if not isinstance(doc, dict):
        raise InferError("request body must be a JSON object")
    return decode_doc(doc, binary, sig)


def decode_doc(doc: dict, binary: bytes, sig: Signature) -> InferRequest:
    """A request already parsed into the JSON form (the gRPC side builds one from its message)."""
    inputs, texts, text_where = _inputs(doc.get("inputs"), binary, sig)
    outputs, binary_outputs = _outputs(doc, sig)
    params = _object(doc.get("parameters"), "parameters")
    req = InferRequest(inputs, outputs, binary_outputs, _request_id(doc.get("id")), _timeout(params))
    if texts is not None:  # rows and batching key follow once tokenized (text.TextEncoder)
        req.texts, req.text_where, req.rows = texts, text_where, len(texts)
        return req
    if sig.batching:
        req.rows = _rows(inputs)
    req.key = tuple(a.shape[1:] if sig.batching else a.shape for a in inputs.values())
    return req


def _split(body: bytes, header_length: str | None) -> tuple[bytes, bytes]:
    if header_length is None:
        return body, b""
    try:
        size = int(header_length)
    except ValueError:
        raise InferError(f"Inference-Header-Content-Length: not an integer: {header_length!r}") from None
    if not 0 <= size <= len(body):
        raise InferError(f"Inference-Header-Content-Length: {size} is outside the body ({len(body)} bytes)")
    return body[:size], body[size:]


def _object(value, where: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InferError(f"{where}: must be a JSON object")
    return value


def _request_id(value) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise InferError("id: must be a string")


def _timeout(params: dict) -> float | None:
    value = params.get("timeout")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InferError("parameters.timeout: must be a positive integer (microseconds)")
    return value / 1e6


def _inputs(items, binary: bytes, sig: Signature) -> tuple[dict[str, np.ndarray], list[str] | None, str]:
    """The model's tensors, or the texts of a text request (and the field that held them)."""
    if not isinstance(items, list) or not items:
        raise InferError("inputs: must be a non-empty list")
    got: dict[str, np.ndarray] = {}
    texts: list[str] | None = None
    text_where = ""
    sizes: dict[str, tuple[int, str]] = {}  # symbolic dim -> (size, the input that set it)
    offset = 0
    for i, item in enumerate(items):
        where = f"inputs[{i}]"
        if not isinstance(item, dict):
            raise InferError(f"{where}: must be a JSON object")
        name = item.get("name")
        if not isinstance(name, str):
            raise InferError(f"{where}.name: must be a string")
        where = f"{where} ({name!r})"
        if name == sig.text or item.get("datatype") == BYTES:
            if texts is not None:
                raise InferError(f"{where}.name: given twice")
            texts, offset = text_input(item, name, binary, offset, sig.text, sorted(sig.inputs), sig.max_batch_size, where)
            text_where = f"{where}.data"
            continue
        if name not in sig.inputs:
            raise InferError(f"{where}.name: unknown input; the model takes {sorted(sig.inputs)}")
        if name in got:
            raise InferError(f"{where}.name: given twice")
        info = sig.inputs[name]
        dtype = _datatype(item.get("datatype"), info, where)
        shape = _shape(item.get("shape"), info, sig, where)
        _shared_dims(shape, info, sizes, where)
        got[name], offset = _tensor(item, dtype, shape, binary, offset, where)
        if info.range is not None:
            _in_range(got[name], info.range, f"{where}.data")
    if texts is not None:
        if got:
            raise InferError(f"inputs: send either the text input {sig.text!r} or the model's tensors "
                             f"{sorted(sig.inputs)}, not both")
        if offset != len(binary):
            raise InferError(f"binary data: {len(binary) - offset} trailing bytes belong to no input")
        return {}, texts, text_where
    missing = [n for n in sig.inputs if n not in got]
    if missing:
        raise InferError(f"inputs: missing {missing}; the model takes {sorted(sig.inputs)}")
    if offset != len(binary):
        raise InferError(f"binary data: {len(binary) - offset} trailing bytes belong to no input")
    # The backend gets inputs in signature order.
    return {n: got[n] for n in sig.inputs}, None, ""


def _datatype(value, info: TensorInfo, where: str) -> np.dtype:
    if value != info.datatype:
        raise InferError(f"{where}.datatype: expected {info.datatype}, got {value!r}")
    if value not in DTYPES:
        raise InferError(f"{where}.datatype: {value} is not supported by this server")
    return DTYPES[value]


def _shape(value, info: TensorInfo, sig: Signature, where: str) -> tuple[int, ...]:
    if not isinstance(value, list) or not all(type(d) is int and d >= 0 for d in value):
        raise InferError(f"{where}.shape: must be a list of non-negative integers, got {value!r}")
    want = info.shape
    if len(value) != len(want) or any(w != -1 and w != d for w, d in zip(want, value)):
        raise InferError(f"{where}.shape: {value} does not match the model's {want} (-1 is any size)")
    if 0 in value:
        i = value.index(0)
        raise InferError(f"{where}.shape: dim {i}{_dim_name(info, i)} is 0; every dim must be at least 1 "
                         "(an empty tensor has nothing to infer)")
    if sig.batching and value and value[0] > sig.max_batch_size:
        raise InferError(f"{where}.shape: batch of {value[0]} rows is over max_batch_size {sig.max_batch_size}")
    return tuple(value)


def _dim_name(info: TensorInfo, i: int) -> str:
    return f" ({info.dim_names[i]})" if i < len(info.dim_names) and info.dim_names[i] else ""


def _shared_dims(shape: tuple[int, ...], info: TensorInfo, sizes: dict[str, tuple[int, str]], where: str) -> None:
    """Inputs that name the same dim (tokens and mask both [batch, seq]) must agree on its size."""
    for i, (size, dim) in enumerate(zip(shape, info.dim_names)):
        if dim is None:
            continue
        first = sizes.setdefault(dim, (size, where))
        if first[0] != size:
            raise InferError(f"{where}.shape: dim {i} ({dim}) is {size}, but {first[1]} has {dim} = {first[0]}; "
                             f"inputs that share the dim {dim!r} must agree on its size")


def _in_range(arr: np.ndarray, bounds: list[float], where: str) -> None:
    """The spec's declared `range` (ids below an embedding's row count), checked before the model runs."""
    lo, hi = bounds
    if arr.size == 0 or (lo <= arr.min() and arr.max() <= hi):  # NaN fails both comparisons
        return
    flat = arr.ravel()
    k = int(np.flatnonzero(~((flat >= lo) & (flat <= hi)))[0])
    index = list(np.unravel_index(k, arr.shape)) if arr.ndim else []
    raise InferError(f"{where}: value {flat[k].item()!r} at index {[int(j) for j in index]} is outside "
                     f"the declared range [{_num(lo)}, {_num(hi)}]")


def _num(value: float):
    return int(value) if float(value).is_integer() else value


def _tensor(item: dict, dtype: np.dtype, shape: tuple[int, ...], binary: bytes, offset: int,
            where: str) -> tuple[np.ndarray, int]:
    count = math.prod(shape)
    params = _object(item.get("parameters"), f"{where}.parameters")
    size = params.get("binary_data_size")
    if size is not None:
        if "data" in item:
            raise InferError(f"{where}: has both data and parameters.binary_data_size")
        if type(size) is not int or size != count * dtype.itemsize:
            raise InferError(f"{where}.parameters.binary_data_size: {size!r} bytes, but shape {list(shape)} "
                             f"of {dtype.name} needs {count * dtype.itemsize}")
        if offset + size > len(binary):
            raise InferError(f"{where}.parameters.binary_data_size: {size} bytes, but only "
                             f"{len(binary) - offset} binary bytes are left")
        return np.frombuffer(binary, dtype, count, offset).reshape(shape), offset + size
    if "data" not in item:
        raise InferError(f"{where}.data: missing (and no parameters.binary_data_size)")
    return _json_tensor(item["data"], dtype, shape, count, where), offset


def _json_tensor(data, dtype: np.dtype, shape: tuple[int, ...], count: int, where: str) -> np.ndarray:
    try:
        arr = np.asarray(data)
    except (ValueError, TypeError, RecursionError):
        raise InferError(f"{where}.data: not a rectangular array of numbers") from None
    if arr.dtype.kind not in ACCEPTED_KINDS[dtype.kind]:
        # Whole numbers past int64 reach here as object (or float) arrays: too large for an
        # integer datatype, and fine for a float one unless past its range too.
        error = _outside_datatype(data, dtype, shape, where)
        if error is None and dtype.kind == "f" and _numbers(arr, (int, float)):
            arr = np.asarray(data, np.float64)
        else:
            raise error or InferError(f"{where}.data: values of kind {_kind_word(arr)} do not fit datatype "
                                      f"{PROTOCOL_NAMES[dtype.name]}")
    if arr.size != count:
        raise InferError(f"{where}.data: {arr.size} elements, but shape {list(shape)} needs {count}")
    if dtype.kind in "iu" and arr.size:
        limits = np.iinfo(dtype)
        if arr.min() < limits.min or arr.max() > limits.max:
            raise _outside_datatype(data, dtype, shape, where)
    with np.errstate(over="ignore"):  # too large for the datatype: refused just below, by name
        out = arr.reshape(shape).astype(dtype, copy=False)
    if dtype.kind == "f" and not np.isfinite(out).all():
        # NaN/Infinity literals are refused while parsing; what is left is a number too large
        # for the datatype (1e39 as FP32, 1e999 as anything), which would reach the model as inf.
        raise _outside_datatype(data, dtype, shape, where)
    return out


def _numbers(arr: np.ndarray, kinds: tuple[type, ...]) -> bool:
    return arr.dtype.kind == "O" and all(type(v) in kinds for v in arr.flat)


def _outside_datatype(data, dtype: np.dtype, shape: tuple[int, ...], where: str) -> InferError | None:
    """The first number too large for the datatype, by index and value; None if there is none or
    the data holds something other than numbers (only called on a request that looks wrong)."""
    leaves = np.asarray(data, dtype=object)
    if leaves.size == 0 or not _numbers(leaves, (int,) if dtype.kind in "iu" else (int, float)):
        return None
    info = np.iinfo(dtype) if dtype.kind in "iu" else np.finfo(dtype)
    # Python numbers compare exactly with these (2**2000 against a float too)
    lo, hi = (int(info.min), int(info.max)) if dtype.kind in "iu" else (-float(info.max), float(info.max))
    k = next((k for k, v in enumerate(leaves.flat) if not lo <= v <= hi), None)
    if k is None:
        return None
    at = shape if leaves.size == math.prod(shape) else leaves.shape
    index = [int(j) for j in np.unravel_index(k, at)]
    text = repr(leaves.flat[k])
    text = text if len(text) <= 24 else f"{text[:12]}... ({len(text)} digits)"
    return InferError(f"{where}.data: value {text} at index {index} is outside the range of "
                      f"{PROTOCOL_NAMES[dtype.name]}")


def _kind_word(arr: np.ndarray) -> str:
    return {"b": "bool", "i": "integer", "u": "integer", "f": "float", "U": "string"}.get(
        arr.dtype.kind, "mixed/other")


def _rows(inputs: dict[str, np.ndarray]) -> int:
    rows = {a.shape[0] if a.ndim else None for a in inputs.values()}
    if len(rows) != 1 or None in rows:
        raise InferError(f"inputs: all inputs need the same batch size (dim 0), got {sorted(map(str, rows))}")
    return rows.pop()


def _outputs(doc: dict, sig: Signature) -> tuple[tuple[str, ...], frozenset[str]]:
    items = doc.get("outputs")
    params = _object(doc.get("parameters"), "parameters")
    if items is None:
        everything = params.get("binary_data_output") is True
        return sig.outputs, frozenset(sig.outputs if everything else ())
    if not isinstance(items, list) or not items:
        raise InferError("outputs: must be a non-empty list when given")
    names: list[str] = []
    binary: set[str] = set()
    for i, item in enumerate(items):
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str) or name not in sig.outputs:
            raise InferError(f"outputs[{i}].name: unknown output {name!r}; the model gives {list(sig.outputs)}")
        if name in names:
            raise InferError(f"outputs[{i}].name: {name!r} requested twice")
        oparams = _object(item.get("parameters"), f"outputs[{i}].parameters")
        if oparams.get("classification"):
            raise InferError(f"outputs[{i}].parameters.classification: not supported by this server")
        names.append(name)
        if oparams.get("binary_data", False) is True:
            binary.add(name)
    return tuple(names), frozenset(binary)


def encode(req: InferRequest, results: dict[str, np.ndarray], model: str, version: str) -> tuple[bytes, int | None]:
    """The response body, and the JSON header's length when binary outputs follow it.

    Built as JSON text piece by piece: FP32 data is formatted with 9 significant digits (exact
    for float32, half the length of a double's repr and twice as fast as json.dumps).
    """
    outputs: list[str] = []
    blobs: list[bytes] = []
    for name in req.outputs:
        arr = results[name]
        strings = arr.dtype == object  # a BYTES output (entities.py)
        datatype = BYTES if strings else dtype_name(arr.dtype)
        head = f'{{"name":{json.dumps(name)},"datatype":"{datatype}","shape":{json.dumps(list(arr.shape))}'
        if name in req.binary_outputs:
            blob = bytes_elements(arr) if strings else np.ascontiguousarray(arr).tobytes()
            outputs.append(f'{head},"parameters":{{"binary_data_size":{len(blob)}}}}}')
            blobs.append(blob)
        else:
            outputs.append(f'{head},"data":[{bytes_json(arr) if strings else json_numbers(arr)}]}}')
    doc = f'{{"model_name":{json.dumps(model)},"model_version":{json.dumps(version)},"outputs":[{",".join(outputs)}]'
    if req.id is not None:
        doc += f',"id":{json.dumps(req.id)}'
    head = (doc + "}").encode()
    if not blobs:
        return head, None
    return b"".join([head, *blobs]), len(head)


def json_numbers(arr: np.ndarray) -> str:
    values = arr.ravel().tolist()
    if arr.dtype.kind != "f":
        return strictjson.dumps(values)[1:-1]
    if not np.isfinite(arr).all():
        return strictjson.float_list(values)  # "NaN", "Infinity", "-Infinity" (module strictjson)
    if arr.dtype == np.float32 and values:
        return _float32_format(len(values)) % tuple(values)
    return strictjson.dumps(values)[1:-1]


@functools.lru_cache(maxsize=64)
def _float32_format(count: int) -> str:
    return ",".join(["%.9g"] * count)


def check_model(name: str, version: str | None, config: RuntimeConfig) -> None:
    if name != config.model_name:
        raise NotFound(f"model {name!r} not found; this server serves {config.model_name!r}")
    if version not in (None, "", config.model_version):
        raise NotFound(f"model {name!r} has no version {version!r}; it has {config.model_version!r}")
