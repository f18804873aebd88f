"""Text evaluation and calibration data (`model.evaluation.text`): JSON lines of
{"text": "...", "label": ...}, one sample a line. A label (text-classification only) is a name
from the model's id2label or its index. Read here with file:line errors, so `deployc validate`
finds a bad line; the passes read the same rows through `read_rows`."""

from __future__ import annotations

import json
from pathlib import Path

from compiler.errors import SpecError, SpecIssue
from compiler.frontend.spec import Spec

MAX_BYTES = 64 << 20


def sentence_labels(spec: Spec) -> tuple[str, ...]:
    """The labels a line's "label" may name: a text classifier's; none for other tasks (a token
    classifier's labels are per token, which a line of text cannot give)."""
    return spec.model.labels if spec.model.task == "text-classification" else ()


def read_rows(path: Path, key: str, labels: tuple[str, ...]) -> tuple[list[str], list[int] | None]:
    """(texts, label indices or None). Every line must be an object with a non-empty "text"."""
    if path.stat().st_size > MAX_BYTES:
        raise SpecError(SpecIssue(key, f"{path.name} is larger than {MAX_BYTES >> 20} MiB"))
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise SpecError(SpecIssue(key, f"{path.name} is not UTF-8 text: {exc}")) from None
    texts, found = [], []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path.name}:{number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SpecError(SpecIssue(key, f"{where}: not a JSON object: {exc.msg}")) from None
        if not isinstance(row, dict) or not isinstance(row.get("text"), str) or not row["text"].strip():
            raise SpecError(SpecIssue(key, f"{where}: each line is an object with a non-empty \"text\" string"))
        texts.append(row["text"])
        found.append(_label(row.get("label"), labels, where, key))
    if not texts:
        raise SpecError(SpecIssue(key, f"{path.name} holds no samples"))
    given = [f for f in found if f is not None]
    if given and len(given) != len(found):
        raise SpecError(SpecIssue(key, f"{path.name}: {len(given)} of {len(found)} lines have a label; all or none"))
    return texts, (found if given else None)


def _label(value, labels: tuple[str, ...], where: str, key: str) -> int | None:
    if value is None:
        return None
    if not labels:
        raise SpecError(SpecIssue(key, f"{where}: a \"label\" is for task text-classification"))
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise SpecError(SpecIssue(key, f"{where}: label {value!r} is not a name or an index"))
    if isinstance(value, int):
        if 0 <= value < len(labels):
            return value
    elif value in labels:
        return labels.index(value)
    raise SpecError(SpecIssue(key, f"{where}: label {value!r} is not one of the model's labels "
                                   f"({', '.join(labels)}) or their index"))


def check(spec: Spec) -> list[SpecIssue]:
    """Every text file the spec names: inside the spec's folder, and well formed."""
    from compiler.frontend.files import allowed_roots

    issues = []
    for key in ("calibration", "evaluation"):
        src = getattr(spec.model, key)
        if src is None or not src.text:
            continue
        path, where = spec.resolve_path(src.text), f"model.{key}.text"
        if spec.model.source != "huggingface":
            issues.append(SpecIssue(where, "text data is for model.source huggingface"))
        elif not any(path.is_relative_to(r) for r in allowed_roots(spec.base_dir)):
            issues.append(SpecIssue(where, f"{src.text!r} is outside the spec's folder (resolved: {path})"))
        elif not path.is_file():
            issues.append(SpecIssue(where, f"file not found: {src.text!r} (looked in {path.parent})"))
        else:
            try:
                read_rows(path, where, sentence_labels(spec))
            except SpecError as exc:
                issues.extend(exc.issues)
    return issues
