"""Find deployc output trees (folders holding deployc.lock.json) and pair old with new.

OLD and NEW may each be one tree (`out/cpu-x86`) or a folder of trees (`out`, a sweep's
output). Two trees given directly are compared whatever their names; otherwise trees pair by
their path under the folder. The `.deployc/` build logs are run-specific and never compared.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from compiler.digest import sha256_file

LOCK = "deployc.lock.json"
LOGS = ".deployc"


@dataclass(frozen=True)
class TreePair:
    name: str
    old: Path | None  # None: the tree is new
    new: Path | None  # None: the tree was removed


def is_tree(path: Path) -> bool:
    return (path / LOCK).is_file()


def find_trees(root: Path) -> dict[str, Path]:
    """Trees under root by relative path; a tree is not searched for trees inside it."""
    if is_tree(root):
        return {root.name: root}
    found: dict[str, Path] = {}
    stack = [root]
    while stack:
        folder = stack.pop()
        for child in sorted(folder.iterdir()):
            if not child.is_dir() or child.name == LOGS or child.name.startswith("."):
                continue
            if is_tree(child):
                found[child.relative_to(root).as_posix()] = child
            else:
                stack.append(child)
    return dict(sorted(found.items()))


def pair_trees(old: Path, new: Path) -> list[TreePair]:
    if is_tree(old) and is_tree(new):
        name = new.name if old.name == new.name else f"{old.name} -> {new.name}"
        return [TreePair(name, old, new)]
    before, after = find_trees(old), find_trees(new)
    return [TreePair(name, before.get(name), after.get(name)) for name in sorted(set(before) | set(after))]


def files_of(tree: Path | None, skip_trees: bool = False) -> dict[str, Path]:
    """Every file under tree by relative path (build logs excluded). With skip_trees, files
    inside nested trees are left out (the loose files of a folder of trees: sweep.md, ...)."""
    if tree is None:
        return {}
    out: dict[str, Path] = {}
    stack = [tree]
    while stack:
        folder = stack.pop()
        for child in sorted(folder.iterdir()):
            if child.is_dir():
                if child.name == LOGS or (skip_trees and is_tree(child)):
                    continue
                stack.append(child)
            elif child.is_file():
                out[child.relative_to(tree).as_posix()] = child
    return dict(sorted(out.items()))


@dataclass(frozen=True)
class FileDelta:
    path: str
    old: Path | None
    new: Path | None

    @property
    def status(self) -> str:
        return "added" if self.old is None else "removed" if self.new is None else "changed"


def changed_files(old: dict[str, Path], new: dict[str, Path]) -> list[FileDelta]:
    deltas = []
    for rel in sorted(set(old) | set(new)):
        a, b = old.get(rel), new.get(rel)
        if a is not None and b is not None and (a.stat().st_size == b.stat().st_size and sha256_file(a) == sha256_file(b)):
            continue
        deltas.append(FileDelta(rel, a, b))
    return deltas


def yaml_documents(files: dict[str, Path]) -> dict[str, list]:
    """The parsed documents of every YAML file; a file that does not parse is left out (it is
    then compared as text)."""
    import yaml

    out: dict[str, list] = {}
    for rel, path in files.items():
        if not rel.endswith((".yaml", ".yml")):
            continue
        try:
            out[rel] = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
        except (yaml.YAMLError, UnicodeDecodeError):
            continue
    return out
