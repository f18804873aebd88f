"""Generate the runtime's gRPC stubs from proto/grpc_predict_v2.proto with grpcio-tools.

`make proto` (or `python proto/generate.py [OUT_DIR]`) writes grpc_predict_v2_pb2.py and
grpc_predict_v2_pb2_grpc.py into compiler/runtime/ (default). They are committed, not made at
install time: the image copies compiler/runtime/*.py as they are, a reviewer sees what ships,
and tests/runtime/test_grpc_stubs.py regenerates them and requires identical bytes, so the
.proto, the pinned grpcio-tools and the committed files cannot drift apart.
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROTO = "grpc_predict_v2.proto"
STEM = PROTO.removesuffix(".proto")
DEFAULT_OUT = HERE.parent / "compiler" / "runtime"


def generate(out_dir: Path) -> list[Path]:
    from grpc_tools import protoc  # grpcio-tools: needed only here, never by the runtime

    with tempfile.TemporaryDirectory() as tmp:
        argv = ["grpc_tools.protoc", f"-I{HERE}", f"--python_out={tmp}", f"--grpc_python_out={tmp}", str(HERE / PROTO)]
        if protoc.main(argv) != 0:
            raise SystemExit(f"protoc failed on {HERE / PROTO}")
        written = []
        for name in (f"{STEM}_pb2.py", f"{STEM}_pb2_grpc.py"):
            text = (Path(tmp) / name).read_text()
            # The runtime is a package (compiler.runtime here, runtime in the image): the
            # service module imports its messages relatively, whatever the package is called.
            text = re.sub(rf"^import {STEM}_pb2 as ", f"from . import {STEM}_pb2 as ", text, flags=re.M)
            target = Path(out_dir) / name
            target.write_text(text)
            written.append(target)
    return written


if __name__ == "__main__":
    for path in generate(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUT):
        print(path)
