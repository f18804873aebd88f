"""The text input of a text model: an Open Inference Protocol `BYTES` tensor of strings.

JSON: `"datatype": "BYTES", "shape": [n] or [n, 1], "data": ["a sentence", ...]`.
Binary extension (what tritonclient writes with binary_data=True): each element is a 4-byte
little-endian length followed by that many bytes, `binary_data_size` the total.
"""

from __future__ import annotations

import struct

from .errors import InferError

BYTES = "BYTES"


def text_input(item: dict, name: str, binary: bytes, offset: int, text_name: str | None,
               tensors: list[str], max_rows: int, where: str) -> tuple[list[str], int]:
    """A request's BYTES input: its texts, and the binary offset after them."""
    if text_name is None:
        raise InferError(f"{where}: this model takes no text (it was built without a tokenizer); "
                         f"send its tensors {tensors}")
    if name != text_name:
        raise InferError(f"{where}.name: BYTES input {name!r} is unknown; the text input is {text_name!r}")
    if item.get("datatype") != BYTES:
        raise InferError(f"{where}.datatype: expected BYTES (strings), got {item.get('datatype')!r}")
    # Text rows are limited per request with or without batching: each one is tokenized on
    # the event loop, and a request is at most one batch.
    rows = text_shape(item.get("shape"), where, max_rows)
    params = item.get("parameters") or {}
    if not isinstance(params, dict):
        raise InferError(f"{where}.parameters: must be a JSON object")
    size = params.get("binary_data_size")
    if size is not None:
        if "data" in item:
            raise InferError(f"{where}: has both data and parameters.binary_data_size")
        return texts_from_binary(binary, offset, size, rows, where)
    if "data" not in item:
        raise InferError(f"{where}.data: missing (and no parameters.binary_data_size)")
    return texts_from_json(item["data"], rows, where), offset


def text_shape(value, where: str, max_rows: int) -> int:
    """The number of texts a BYTES input's shape declares ([n] or [n, 1])."""
    if not isinstance(value, list) or not all(type(d) is int and d >= 0 for d in value) \
            or len(value) not in (1, 2) or (len(value) == 2 and value[1] != 1):
        raise InferError(f"{where}.shape: a text input is [n] or [n, 1] (n texts), got {value!r}")
    rows = value[0]
    if rows == 0:
        raise InferError(f"{where}.shape: 0 texts; send at least one")
    if rows > max_rows:
        raise InferError(f"{where}.shape: {rows} texts are over max_batch_size {max_rows} per request; "
                         "split them into several requests")
    return rows


def texts_from_json(data, rows: int, where: str) -> list[str]:
    if isinstance(data, list) and all(isinstance(row, list) and len(row) == 1 for row in data):
        data = [row[0] for row in data]  # [n, 1] nested
    if not isinstance(data, list):
        raise InferError(f"{where}.data: must be a list of strings")
    if len(data) != rows:
        raise InferError(f"{where}.data: {len(data)} elements, but the shape says {rows}")
    for i, text in enumerate(data):
        if not isinstance(text, str):
            raise InferError(f"{where}.data[{i}]: must be a string, got {type(text).__name__}")
    return data


def texts_from_binary(binary: bytes, offset: int, size, rows: int, where: str) -> tuple[list[str], int]:
    if type(size) is not int or size < 0 or offset + size > len(binary):
        raise InferError(f"{where}.parameters.binary_data_size: {size!r} bytes, but "
                         f"{len(binary) - offset} binary bytes are left")
    end = offset + size
    texts: list[str] = []
    pos = offset
    for i in range(rows):
        if pos + 4 > end:
            raise InferError(f"{where}: binary data holds {i} elements, but the shape says {rows} "
                             "(each element is a 4-byte little-endian length, then its bytes)")
        (length,) = struct.unpack_from("<I", binary, pos)
        pos += 4
        if pos + length > end:
            raise InferError(f"{where}: element {i} declares {length} bytes, but only {end - pos} are left")
        try:
            texts.append(binary[pos:pos + length].decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise InferError(f"{where}.data[{i}]: not valid UTF-8 (byte {exc.start} of the element); "
                             "send UTF-8 text") from None
        pos += length
    if pos != end:
        raise InferError(f"{where}: {end - pos} bytes after the {rows} elements the shape declares")
    return texts, end


def bytes_elements(arr) -> bytes:
    """A BYTES output's binary form: each element a 4-byte little-endian length, then its bytes."""
    return b"".join(struct.pack("<I", len(e)) + e for e in arr.ravel())


def bytes_json(arr) -> str:
    """A BYTES output's JSON data: its elements as strings (they are UTF-8 JSON text)."""
    import json

    return ",".join(json.dumps(e.decode("utf-8"), ensure_ascii=False) for e in arr.ravel())
