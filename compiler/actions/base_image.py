"""A Debian base image with Python, made locally with mmdebstrap and `docker import`.

When no registry is reachable, `python:3.11-slim` cannot be pulled. This makes an
equivalent from the Debian mirror the host's apt already uses (read from its sources, never
hard-coded), trimmed of docs, man pages and locales:

    python -m compiler.actions.base_image [--tag deployc-base/python:3.11-bookworm] [--suite bookworm]

Debian bookworm's python3 is 3.11, so the tag says so. Takes a few minutes on two cores.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

DEFAULT_TAG = "deployc-base/python:3.11-bookworm"
DEFAULT_SUITE = "bookworm"
PACKAGES = ("python3", "python3-venv", "python3-pip", "ca-certificates")
# dpkg never unpacks these: the image serves a model, nobody reads man pages in it.
EXCLUDES = ("/usr/share/man/*", "/usr/share/info/*", "/usr/share/locale/*", "/usr/share/doc/*",
            "/usr/share/lintian/*", "/usr/share/linda/*")
KEEP = ("/usr/share/doc/*/copyright",)  # licences stay
# Merge /usr before the essential set is installed, so apt picks usr-is-merged over usrmerge
# (which drags in perl, ~50 MB the image never uses).
MERGED_USR_HOOK = Path("/usr/share/mmdebstrap/hooks/merged-usr")
CHANGES = ('ENV LANG=C.UTF-8', 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
           'CMD ["python3"]')


@dataclass(frozen=True)
class AptSource:
    uri: str
    suite: str
    components: tuple[str, ...]

    def line(self) -> str:
        return f"deb {self.uri} {self.suite} {' '.join(self.components)}"


def apt_sources(root: Path = Path("/etc/apt")) -> list[AptSource]:
    """Every `deb` entry apt reads: sources.list, *.list (one-line) and *.sources (deb822)."""
    found: list[AptSource] = []
    one_line = [root / "sources.list", *sorted((root / "sources.list.d").glob("*.list"))]
    for path in one_line:
        if path.is_file():
            found += _parse_one_line(path.read_text())
    for path in sorted((root / "sources.list.d").glob("*.sources")):
        found += _parse_deb822(path.read_text())
    return found


def _parse_one_line(text: str) -> list[AptSource]:
    out = []
    for line in text.splitlines():
        line = re.sub(r"\[[^]]*\]", "", line.split("#", 1)[0]).split()  # drop [options]
        if len(line) >= 4 and line[0] == "deb":
            out.append(AptSource(line[1], line[2], tuple(line[3:])))
    return out


def _parse_deb822(text: str) -> list[AptSource]:
    out = []
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line or line[:1].isspace():
                continue
            key, value = line.split(":", 1)
            fields[key.strip().lower()] = value.strip()
        if "deb" not in fields.get("types", "").split() or fields.get("enabled", "yes").lower() == "no":
            continue
        for uri in fields.get("uris", "").split():
            for suite in fields.get("suites", "").split():
                out.append(AptSource(uri, suite, tuple(fields.get("components", "main").split())))
    return out


def mirrors_for(suite: str, sources: list[AptSource]) -> list[str]:
    """The host's entries for this release (suite, -updates, -security), main component only."""
    wanted = [s for s in sources if s.suite == suite or s.suite.startswith(f"{suite}-")]
    lines = [AptSource(s.uri, s.suite, ("main",)).line() for s in wanted if "main" in s.components]
    if not any(line.split()[2] == suite for line in lines):
        raise RuntimeError(f"apt has no mirror for {suite} main in /etc/apt/sources.list(.d); "
                           "add one or pass --mirror")
    return sorted(set(lines), key=lines.index)


def mmdebstrap_command(suite: str, tarball: Path, mirrors: list[str]) -> list[str]:
    cmd = ["mmdebstrap", "--variant=apt", f"--include={','.join(PACKAGES)}",
           '--aptopt=APT::Install-Recommends "false"']
    cmd += [f"--dpkgopt=path-exclude={p}" for p in EXCLUDES]
    cmd += [f"--dpkgopt=path-include={p}" for p in KEEP]
    if MERGED_USR_HOOK.is_dir():
        cmd.append(f"--hook-dir={MERGED_USR_HOOK}")
    return cmd + [suite, str(tarball), *mirrors]


def make_base_image(client, tag: str = DEFAULT_TAG, suite: str = DEFAULT_SUITE,
                    mirrors: list[str] | None = None, log=None) -> str:
    """Bootstrap, import into the engine behind `client` (a docker.DockerClient); returns the id."""
    if shutil.which("mmdebstrap") is None:
        raise RuntimeError("mmdebstrap is not installed (Debian package mmdebstrap)")
    mirrors = mirrors or mirrors_for(suite, apt_sources())
    repository, _, version = tag.rpartition(":")
    with tempfile.TemporaryDirectory(prefix="deployc-base-") as tmp:
        tarball = Path(tmp) / "rootfs.tar"
        subprocess.run(mmdebstrap_command(suite, tarball, mirrors), check=True, stdout=log, stderr=log)
        result = client.api.import_image(src=str(tarball), repository=repository, tag=version,
                                         changes=list(CHANGES))
    return client.images.get(tag).id if result else ""


def main(argv: list[str] | None = None) -> None:
    import docker

    parser = argparse.ArgumentParser(prog="python -m compiler.actions.base_image", description=__doc__.split("\n")[0])
    parser.add_argument("--tag", default=DEFAULT_TAG)
    parser.add_argument("--suite", default=DEFAULT_SUITE)
    parser.add_argument("--mirror", action="append", help="an apt line 'deb URI SUITE main' (default: the host's)")
    args = parser.parse_args(argv)
    image_id = make_base_image(docker.from_env(), args.tag, args.suite, args.mirror)
    print(f"{args.tag} {image_id}")


if __name__ == "__main__":
    main()
