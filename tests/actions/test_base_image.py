"""The base image's mirror comes from apt's own sources (both formats), never a fixed host."""

from __future__ import annotations

from pathlib import Path

import pytest

from compiler.actions.base_image import PACKAGES, apt_sources, mirrors_for, mmdebstrap_command

DEB822 = """\
Types: deb
# a comment
URIs: http://mirror.example.invalid/debian
Suites: bookworm bookworm-updates
Components: main contrib
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://mirror.example.invalid/debian
Suites: bookworm
Components: main

Types: deb
URIs: http://security.example.invalid/debian-security
Suites: bookworm-security
Components: main
"""

ONE_LINE = """\
# deb http://commented.example.invalid/debian bookworm main
deb [arch=amd64 signed-by=/k.gpg] http://list.example.invalid/debian trixie main
deb http://other.example.invalid/x nodistro main
"""


@pytest.fixture
def apt_root(tmp_path) -> Path:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(DEB822)
    (tmp_path / "sources.list").write_text(ONE_LINE)
    (tmp_path / "sources.list.d" / "old.list.disabled").write_text("deb http://disabled.example.invalid/ bookworm main\n")
    return tmp_path


def test_reads_both_source_formats(apt_root):
    found = {(s.uri, s.suite) for s in apt_sources(apt_root)}
    assert found == {
        ("http://list.example.invalid/debian", "trixie"),
        ("http://other.example.invalid/x", "nodistro"),
        ("http://mirror.example.invalid/debian", "bookworm"),
        ("http://mirror.example.invalid/debian", "bookworm-updates"),
        ("http://security.example.invalid/debian-security", "bookworm-security"),
    }


def test_mirrors_for_a_release_take_its_updates_and_security(apt_root):
    assert mirrors_for("bookworm", apt_sources(apt_root)) == [
        "deb http://mirror.example.invalid/debian bookworm main",
        "deb http://mirror.example.invalid/debian bookworm-updates main",
        "deb http://security.example.invalid/debian-security bookworm-security main",
    ]


def test_a_release_apt_does_not_know_is_a_clear_error(apt_root):
    with pytest.raises(RuntimeError, match="apt has no mirror for bullseye main"):
        mirrors_for("bullseye", apt_sources(apt_root))


def test_mmdebstrap_command_is_the_apt_variant_with_python():
    cmd = mmdebstrap_command("bookworm", Path("/tmp/rootfs.tar"), ["deb http://m.example.invalid/debian bookworm main"])
    assert cmd[:3] == ["mmdebstrap", "--variant=apt", f"--include={','.join(PACKAGES)}"]
    assert {"python3", "python3-venv", "python3-pip", "ca-certificates"} == set(PACKAGES)
    assert cmd[-3:] == ["bookworm", "/tmp/rootfs.tar", "deb http://m.example.invalid/debian bookworm main"]
