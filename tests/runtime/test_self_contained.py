"""The runtime is copied into images as the top-level package `runtime`: it must import nothing
of deployc and must work from a bare copy."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

from .helpers import RUNTIME_SRC, copy_runtime

# What an image installs for the runtime (the backend libraries are imported lazily).
# tokenizers: text models only, so imported lazily like the backends; onnxruntime_genai likewise
# (text-generation images only).
# grpc, grpc_health, google (protobuf): the gRPC frontend (grpcio, grpcio-health-checking, protobuf).
ALLOWED_THIRD_PARTY = {"numpy", "starlette", "uvicorn", "prometheus_client", "onnxruntime", "torch",
                       "ai_edge_litert", "tokenizers", "grpc", "grpc_health", "google", "onnxruntime_genai"}
LAZY = {"onnxruntime", "torch", "ai_edge_litert", "tokenizers", "onnxruntime_genai"}


def _imports(path: Path) -> list[tuple[ast.AST, str, int]]:
    """(node, top-level module, relative level) for every import in the file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node, alias.name.split(".")[0], 0) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node, (node.module or "").split(".")[0], node.level))
    return found


def test_only_relative_stdlib_or_runtime_deps():
    files = sorted(RUNTIME_SRC.glob("*.py"))
    assert len(files) > 5
    for path in files:
        for node, top, level in _imports(path):
            where = f"{path.name}:{node.lineno}"
            if level:
                continue  # relative: inside the package
            assert top != "compiler", f"{where} imports deployc ({top}); use a relative import"
            assert top in sys.stdlib_module_names or top in ALLOWED_THIRD_PARTY, \
                f"{where} imports {top}, which is not a runtime dependency"


def test_backend_libraries_are_imported_lazily():
    """onnxruntime/torch/ai_edge_litert/tokenizers only inside functions, so an image carries only its backend."""
    for path in sorted(RUNTIME_SRC.glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in tree.body:  # module level only
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                assert not any(n.split(".")[0] in LAZY for n in names), f"{path.name}:{node.lineno}"


def _bare(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """Python without site processing (so no .pth, no editable deployc), whose path holds only
    cwd (for -m) and the installed third-party packages."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONPATH"] = sysconfig.get_paths()["purelib"]
    return subprocess.run([sys.executable, "-S", *args], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=60)


def test_bare_copy_imports_and_runs(tmp_path):
    copy_runtime(tmp_path)
    code = (
        "import sys\n"
        "try:\n    import compiler\nexcept ImportError:\n    pass\n"
        "else:\n    raise SystemExit('deployc is importable: the path is not clean')\n"
        "import runtime, runtime.server, runtime.app, runtime.backend_onnx, runtime.backend_torch\n"
        "import runtime.backend_litert, runtime.metrics, runtime.drift, runtime.text, runtime.openai_api\n"
        "assert 'torch' not in sys.modules and 'onnxruntime' not in sys.modules, 'backend imported eagerly'\n"
        "assert 'tokenizers' not in sys.modules, 'tokenizers imported for a model without text'\n"
        "print(runtime.__file__)\n"
    )
    out = _bare(["-c", "import sys; sys.path.insert(0, ''); exec(sys.argv[1])", code], tmp_path)
    assert out.returncode == 0, out.stderr
    assert Path(out.stdout.strip()).resolve() == (tmp_path / "runtime" / "__init__.py").resolve()
    usage = _bare(["-m", "runtime", "--help"], tmp_path)
    assert usage.returncode == 0, usage.stderr
    assert "--root" in usage.stdout and "--metrics-port" in usage.stdout


def test_missing_config_is_a_clear_error(tmp_path):
    copy_runtime(tmp_path)
    out = _bare(["-m", "runtime", "--root", str(tmp_path / "nope")], tmp_path)
    assert out.returncode != 0
    assert "runtime.json does not exist" in out.stderr and "Traceback" not in out.stderr
