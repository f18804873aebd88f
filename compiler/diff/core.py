"""The semantic diff of two output trees, or two folders of trees, as typed data.

Per tree: the model (selected artifact by digest, metric deltas), Kubernetes objects, Prometheus
rules, then every other file that changed (JSON by field path, text by line counts, binaries
by digest). The lock file is not listed: every change it records is shown in one of these.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from pathlib import Path

from compiler.diff import k8s, rules
from compiler.diff.fields import FieldChange, field_changes
from compiler.diff.k8s import ObjectChange
from compiler.diff.models import ModelDiff, model_diff
from compiler.diff.rules import RuleChange
from compiler.diff.trees import LOCK, FileDelta, changed_files, files_of, pair_trees, yaml_documents
from compiler.digest import sha256_file
from compiler.errors import EXIT_USAGE, DeploycError

BINARY = (".onnx", ".data", ".pt2", ".tflite", ".whl", ".gz", ".tar", ".png", ".bin", ".so", ".zip")
REPORTS = ("report.json", "report.md")  # shown as the model section
MAX_FIELDS = 12


class DiffInputError(DeploycError):
    exit_code = EXIT_USAGE


@dataclass(frozen=True)
class FileChange:
    path: str
    status: str  # added | removed | changed
    detail: str = ""
    fields: list[FieldChange] = field(default_factory=list)


@dataclass
class TreeDiff:
    name: str
    status: str  # added | removed | changed | unchanged
    model: ModelDiff | None = None
    objects: list[ObjectChange] = field(default_factory=list)
    rules: list[RuleChange] = field(default_factory=list)
    files: list[FileChange] = field(default_factory=list)


@dataclass
class Diff:
    old: str  # labels as the user named the folders
    new: str
    trees: list[TreeDiff]
    loose: list[FileChange]  # files beside the trees (a sweep's sweep.md/csv/png)

    @property
    def changed(self) -> bool:
        return bool(self.loose) or any(t.status != "unchanged" for t in self.trees)


def diff_paths(old: Path, new: Path, old_label: str | None = None, new_label: str | None = None) -> Diff:
    for path in (old, new):
        if not Path(path).is_dir():
            raise DiffInputError(f"{path}: no such folder (give two output trees or two folders of trees)")
    old, new = Path(old), Path(new)
    trees = [tree_diff(p.name, p.old, p.new) for p in pair_trees(old, new)]
    loose = [] if (old / LOCK).is_file() else [_file_change(d) for d in changed_files(
        files_of(old, skip_trees=True), files_of(new, skip_trees=True))]
    return Diff(old_label or str(old), new_label or str(new), trees, loose)


def tree_diff(name: str, old: Path | None, new: Path | None) -> TreeDiff:
    deltas = [d for d in changed_files(files_of(old), files_of(new)) if d.path != LOCK]
    status = "added" if old is None else "removed" if new is None else "changed" if deltas else "unchanged"
    if status == "unchanged":
        return TreeDiff(name, status)
    old_docs, new_docs = yaml_documents(files_of(old)), yaml_documents(files_of(new))
    objects = k8s.object_changes(old_docs, new_docs)
    rule_list = rules.rule_changes(old_docs, new_docs)
    covered = k8s.covered_files(old_docs) | k8s.covered_files(new_docs) | rules.covered_files(old_docs) \
        | rules.covered_files(new_docs)
    files = [_file_change(d, formatting_only=not (objects or rule_list)) for d in deltas
             if d.path not in REPORTS and (d.path not in covered or not (objects or rule_list))]
    return TreeDiff(name, status, model_diff(old, new), objects, rule_list, files)


def _file_change(delta: FileDelta, formatting_only: bool = False) -> FileChange:
    if delta.status != "changed":
        target = delta.new or delta.old
        return FileChange(delta.path, delta.status, _size(target))
    a, b = delta.old, delta.new
    if delta.path.endswith(BINARY) or _is_binary(a) or _is_binary(b):
        return FileChange(delta.path, "changed", f"sha256 {sha256_file(a)[:12]} -> {sha256_file(b)[:12]}, "
                                                 f"{a.stat().st_size} -> {b.stat().st_size} bytes")
    if delta.path.endswith(".json"):
        fields = _json_fields(a, b)
        if fields is not None:
            return FileChange(delta.path, "changed", _more(fields), fields[:MAX_FIELDS])
    detail = _line_counts(a, b)
    if formatting_only and delta.path.endswith((".yaml", ".yml")):
        detail += "; no object or rule changed (formatting only)"
    return FileChange(delta.path, "changed", detail)


def _json_fields(a: Path, b: Path) -> list[FieldChange] | None:
    try:
        return field_changes(json.loads(a.read_text(encoding="utf-8")), json.loads(b.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


def _more(fields: list[FieldChange]) -> str:
    extra = len(fields) - MAX_FIELDS
    return f"{len(fields)} fields changed" + (f" (first {MAX_FIELDS} shown)" if extra > 0 else "")


def _line_counts(a: Path, b: Path) -> str:
    old, new = a.read_text(encoding="utf-8").splitlines(), b.read_text(encoding="utf-8").splitlines()
    plus = minus = 0
    for line in difflib.unified_diff(old, new, lineterm="", n=0):
        if line.startswith("+") and not line.startswith("+++"):
            plus += 1
        elif line.startswith("-") and not line.startswith("---"):
            minus += 1
    return f"+{plus} -{minus} lines"


def _is_binary(path: Path) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(8192)
    if b"\0" in head:
        return True
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start < len(head) - 4  # a multi-byte character cut at the edge is still text
    return False


def _size(path: Path) -> str:
    return f"{path.stat().st_size} bytes"
