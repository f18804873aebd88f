"""The writer: staged, atomic, reproducible."""

from __future__ import annotations

import json

import pytest

from compiler.writer import LOCK, write_tree


def test_lock_lists_every_file_by_digest(tmp_path):
    lock = write_tree(tmp_path / "t", {"a.txt": b"a", "sub/b.bin": b"\x00\x01"}, {"spec": {"digest": "x"}})
    assert sorted(lock["files"]) == ["a.txt", "sub/b.bin"]
    assert json.loads((tmp_path / "t" / LOCK).read_text()) == lock


def test_same_input_same_bytes(tmp_path):
    for name in ("one", "two"):
        write_tree(tmp_path / name, {"k8s/x.yaml": b"x: 1\n", "report.md": b"# r\n"}, {"v": 1})
    assert (tmp_path / "one" / LOCK).read_bytes() == (tmp_path / "two" / LOCK).read_bytes()


def test_failed_build_leaves_previous_output(tmp_path):
    target = tmp_path / "t"
    write_tree(target, {"report.md": b"old\n"}, {})

    def fail(staging):
        raise RuntimeError("image build failed")

    with pytest.raises(RuntimeError):
        write_tree(target, {"report.md": b"new\n"}, {}, before_swap=fail)
    assert (target / "report.md").read_bytes() == b"old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["t"]  # no staging debris


def test_rebuild_replaces_stale_files(tmp_path):
    target = tmp_path / "t"
    write_tree(target, {"old.yaml": b"1\n"}, {})
    write_tree(target, {"new.yaml": b"2\n"}, {})
    assert sorted(p.name for p in target.iterdir()) == [LOCK, "new.yaml"]


def test_paths_outside_the_tree_are_refused(tmp_path):
    with pytest.raises(ValueError, match="outside the tree"):
        write_tree(tmp_path / "t", {"../escape": b""}, {})


def test_cache_keys_change_with_the_passes_code(monkeypatch):
    """A fixed pass must not be shadowed by what the old code cached."""
    from compiler.passes import cache

    c = cache.Cache(enabled=False)
    before = c.key("p", {}, {}, {})
    monkeypatch.setattr(cache, "passes_code_digest", lambda: "other code")
    assert c.key("p", {}, {}, {}) != before
