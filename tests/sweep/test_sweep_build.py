"""`deployc build -m` end to end: real builds of the digits example across three targets.

The first sweep runs on a cache of its own, so the build logs prove that a model exported
for one target is read from the cache by the next (one export per sweep, not per job).
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, run_cli

pytestmark = pytest.mark.slow

DIGITS = str(EXAMPLES / "digits-cnn" / "deploy.yaml")
TARGETS = ("cpu-x86", "nvidia-a100", "android-arm64")


def _edge_ok() -> bool:
    try:
        import litert_torch  # noqa: F401
    except Exception:  # noqa: BLE001 (any import failure means the edge job cannot convert)
        return False
    return True


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".deployc" not in p.relative_to(root).parts}


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory):
    """The same three-target sweep twice, in separate processes and folders, one fresh cache."""
    cache = tmp_path_factory.mktemp("sweep-cache")
    cwd = tmp_path_factory.mktemp("cwd")
    env = {"DEPLOYC_CACHE": str(cache)}
    outs = []
    for n in (1, 2):
        out = tmp_path_factory.mktemp(f"sweep{n}")
        r = run_cli("build", DIGITS, "-m", f"target={','.join(TARGETS)}", "-o", str(out), cwd=cwd, env=env)
        assert r.returncode == (0 if _edge_ok() else 1), r.stdout + r.stderr
        outs.append(out)
    return {"outs": outs, "env": env, "cwd": cwd}


def test_one_tree_per_target_and_an_honest_report(sweeps):
    out = sweeps["outs"][0]
    built = [t for t in TARGETS if (out / t / "deployc.lock.json").is_file()]
    assert built == (list(TARGETS) if _edge_ok() else ["cpu-x86", "nvidia-a100"])
    rows = {r["job"]: r for r in csv.DictReader((out / "sweep.csv").open())}
    assert list(rows) == list(TARGETS)
    gpu, cpu = rows["nvidia-a100"], rows["cpu-x86"]
    assert gpu["status"] == "ok" and gpu["p50_ms"] == "" and gpu["p99_ms"] == ""
    assert gpu["latency_note"].startswith("not measured on this host")
    # A distilled student is another model: its cosine to the teacher is lower, its gates its own.
    parity = 0.9 if cpu["selected"].startswith("student-") else 0.99
    assert float(cpu["p50_ms"]) > 0 and float(cpu["accuracy"]) > 0.95 and float(cpu["cosine"]) > parity
    assert "kubernetes" in cpu["emitters"] and "bundle" not in cpu["emitters"]
    md = (out / "sweep.md").read_text()
    gpu_line = next(line for line in md.splitlines() if line.startswith("| nvidia-a100 |"))
    assert "not measured on this host" in gpu_line
    edge = rows["android-arm64"]
    if _edge_ok():
        assert edge["status"] == "ok" and "bundle" in edge["emitters"]
    else:  # the edge toolchain is absent: the row says why, the other jobs still built
        assert edge["status"] == "failed" and "litert" in edge["error"].lower()
    assert (out / "sweep.png").read_bytes().startswith(b"\x89PNG")


def test_the_same_sweep_twice_gives_identical_trees(sweeps):
    first, second = sweeps["outs"]
    for target in TARGETS:
        if (first / target).is_dir():
            assert tree_bytes(first / target) == tree_bytes(second / target), target
    for name in ("sweep.md", "sweep.csv", "sweep.png"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_the_model_is_exported_once_per_sweep(sweeps):
    first, second = sweeps["outs"]
    logs = {t: json.loads((first / ".deployc" / f"{t}.build.json").read_text())
            for t in TARGETS if (first / ".deployc" / f"{t}.build.json").is_file()}
    exports = [(e["pass"], t, e["cached"]) for t, log in logs.items() for e in log if "onnx-export" in e["pass"]]
    names = sorted({name for name, _, _ in exports})  # the teacher's export, and the student's (distill)
    assert "onnx-export" in names[0] and sorted(exports) == [x for n in names for x in
                                                           ((n, "cpu-x86", False), (n, "nvidia-a100", True))]
    # The second sweep found every pass but `load` (which only imports the model) in the cache.
    sweep_log = json.loads((second / ".deployc" / "sweep.json").read_text())
    assert all(j["passes_run"] == 1 for j in sweep_log["jobs"] if j["ok"])


def test_a_sweep_job_builds_what_a_single_build_builds(sweeps, tmp_path):
    r = run_cli("build", DIGITS, "target=nvidia-a100", "-o", str(tmp_path), env=sweeps["env"])
    assert r.returncode == 0, r.stderr
    assert tree_bytes(tmp_path / "nvidia-a100") == tree_bytes(sweeps["outs"][0] / "nvidia-a100")


def test_nothing_of_hydra_lands_in_the_working_directory(sweeps):
    assert list(sweeps["cwd"].iterdir()) == []
    assert not list(sweeps["outs"][0].rglob(".hydra")) and not list(sweeps["outs"][0].rglob("multirun.yaml"))


def test_a_failing_job_does_not_lose_the_others(sweeps, tmp_path):
    r = run_cli("build", DIGITS, "-m", "target=cpu-x86,nvidia-a100", "optimize.target_gates.nvidia-a100.max_size_mb=0.01",
                "-o", str(tmp_path), env=sweeps["env"])
    assert r.returncode == 1, r.stdout + r.stderr
    assert (tmp_path / "cpu-x86" / "deployc.lock.json").is_file() and not (tmp_path / "nvidia-a100").exists()
    rows = {r["job"]: r for r in csv.DictReader((tmp_path / "sweep.csv").open())}
    assert rows["cpu-x86"]["status"] == "ok"
    assert rows["nvidia-a100"]["status"] == "failed"
    assert "no artifact passed the gates" in rows["nvidia-a100"]["error"]
    assert "gate requires <= 0.01" in rows["nvidia-a100"]["error"]
    assert "FAILED: no artifact passed the gates" in (tmp_path / "sweep.md").read_text()


def test_joblib_launcher_runs_two_builds_at_once(sweeps, tmp_path):
    r = run_cli("build", DIGITS, "-m", "target=cpu-x86,nvidia-a100", "--jobs", "2", "-o", str(tmp_path),
                env=sweeps["env"], cwd=sweeps["cwd"])
    assert r.returncode == 0, r.stdout + r.stderr
    log = json.loads((tmp_path / ".deployc" / "sweep.json").read_text())
    assert log["launcher"] == "JoblibLauncher"
    a, b = log["jobs"]
    assert a["pid"] != b["pid"]
    assert a["started"] < b["finished"] and b["started"] < a["finished"], log  # they overlapped
    for target in ("cpu-x86", "nvidia-a100"):
        assert tree_bytes(tmp_path / target) == tree_bytes(sweeps["outs"][0] / target)
    assert list(sweeps["cwd"].iterdir()) == []


def test_other_swept_keys_name_the_folder_and_diff_names_the_change(sweeps, tmp_path):
    r = run_cli("build", DIGITS, "-m", "serve.replicas.max=3,4", "-o", str(tmp_path), env=sweeps["env"])
    assert r.returncode == 0, r.stdout + r.stderr
    folders = sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith((".", "sweep.")))
    assert folders == ["cpu-x86,serve.replicas.max=3", "cpu-x86,serve.replicas.max=4"]
    assert not (tmp_path / ".deployc" / "jobs").exists()
    d = run_cli("diff", str(tmp_path / folders[0]), str(tmp_path / folders[1]))
    assert d.returncode == 0
    assert "HorizontalPodAutoscaler/digits-cnn: spec.maxReplicas 3 -> 4" in d.stdout


def test_an_edge_job_without_the_litert_toolchain_fails_with_its_reason(tmp_path):
    """As on a host without litert-torch: the module is made unimportable (a fresh cache, so the
    conversion really runs), the android row says why, the CPU job still builds."""
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "litert_torch.py").write_text('raise ImportError("litert_torch is not installed (test)")\n')
    env = {"DEPLOYC_CACHE": str(tmp_path / "cache"),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(blocker), os.environ.get("PYTHONPATH")]))}
    out = tmp_path / "out"
    r = run_cli("build", DIGITS, "-m", "target=cpu-x86,android-arm64", "-o", str(out), env=env)
    assert r.returncode == 1, r.stdout + r.stderr
    rows = {r["job"]: r for r in csv.DictReader((out / "sweep.csv").open())}
    assert rows["cpu-x86"]["status"] == "ok" and (out / "cpu-x86" / "deployc.lock.json").is_file()
    assert rows["android-arm64"]["status"] == "failed" and not (out / "android-arm64").exists()
    assert "pass tflite" in rows["android-arm64"]["error"]
    assert "litert_torch is not installed (test)" in rows["android-arm64"]["error"]
    assert "Traceback" not in r.stdout + r.stderr
