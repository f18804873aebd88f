"""`deployc register OUT/TARGET` against a real MLflow server: the version, its tags, the run's
params, metrics and artifacts, read back with MlflowClient (compiler/actions/register.py)."""

from __future__ import annotations

import json

from compiler.digest import sha256_file
from tests.conftest import run_cli
from tests.registry.conftest import MODEL, free_port, said


def test_register_writes_a_version_the_client_reads_back_with_its_tags(built, mlflow_server):
    from mlflow import MlflowClient

    tree = built / "out" / "cpu-x86"
    r = run_cli("register", str(tree), "--tracking-uri", mlflow_server, cwd=built)
    assert r.returncode == 0, r.stderr
    assert "registered: models:/tiny-mlp-cpu-x86/" in r.stdout
    client = MlflowClient(mlflow_server)
    lock = json.loads((tree / "deployc.lock.json").read_text())
    report = json.loads((tree / "report.json").read_text())
    [version] = client.search_model_versions("name = 'tiny-mlp-cpu-x86'")
    tags = version.tags
    assert tags["deployc.spec.digest"] == lock["spec"]["digest"]
    assert (tags["deployc.spec.name"], tags["deployc.spec.version"], tags["deployc.target"]) == \
        ("tiny-mlp", "1.0.0", "cpu-x86")
    assert tags["deployc.model.sha256"] == lock["selected"]["sha256"]
    assert tags["deployc.selected"] == report["selected"]["candidate"]
    assert tags["deployc.lock_sha256"] == sha256_file(tree / "deployc.lock.json")
    assert tags["deployc.gates"] == "passed"
    assert json.loads(tags["deployc.gates.thresholds"]) == report["gates"]
    assert tags["deployc.source.version"] == f"models:/{MODEL}/1"
    assert tags["deployc.source.sha256"] == lock["model"]["sha256"]
    manifests = "".join(p.read_text() for p in sorted((tree / "k8s").glob("*.yaml")))
    assert tags["deployc.image.ref"] and f"image: {tags['deployc.image.ref']}" in manifests  # what the cluster runs
    assert len(tags["deployc.manifests.sha256"]) == 64 and len(tags["deployc.monitoring.sha256"]) == 64
    # The source version links to the deployment.
    source = client.get_model_version(MODEL, "1")
    assert source.tags["deployc.deployed.cpu-x86"] == f"models:/tiny-mlp-cpu-x86/{version.version}"
    # The run: params, metrics of the shipped candidate, and the reviewable files as artifacts.
    run = client.get_run(version.run_id)
    assert run.data.params["spec.digest"] == lock["spec"]["digest"]
    chosen = next(c for c in report["candidates"] if c["candidate"] == report["selected"]["candidate"])
    assert run.data.metrics["cosine"] == chosen["cosine"] and "latency_b1_p50_ms" in run.data.metrics
    listed = {a.path for a in client.list_artifacts(version.run_id, "deployment")}
    assert {"deployment/deployc.lock.json", "deployment/report.json", "deployment/model", "deployment/k8s",
            "deployment/monitoring"} <= listed
    assert "deployment/image" in listed
    assert not any(a.path.endswith("wheels") for a in client.list_artifacts(version.run_id, "deployment/image"))
    # Registering the same build again finds that version; nothing new is made.
    again = run_cli("register", str(tree), "--tracking-uri", mlflow_server, cwd=built)
    assert again.returncode == 0 and "already registered" in again.stdout
    assert len(client.search_model_versions("name = 'tiny-mlp-cpu-x86'")) == 1


def test_register_takes_the_server_the_model_came_from_and_a_name(built, mlflow_server):
    from mlflow import MlflowClient

    r = run_cli("register", str(built / "out" / "cpu-x86"), "--name", "tiny serving", cwd=built,
                env={"MLFLOW_TRACKING_URI": ""})
    assert r.returncode == 0, r.stderr
    assert [v.version for v in MlflowClient(mlflow_server).search_model_versions("name = 'tiny serving'")] == ["1"]


def test_a_folder_that_is_not_a_build_is_exit_2(tmp_path, built):
    for folder in (tmp_path, built / "out"):
        r = run_cli("register", str(folder), "--tracking-uri", "http://127.0.0.1:1")
        assert r.returncode == 2 and "is not a deployc build" in said(r) and "Traceback" not in said(r)


def test_an_unreachable_server_is_exit_1(built):
    r = run_cli("register", str(built / "out" / "cpu-x86"), "--tracking-uri", f"http://127.0.0.1:{free_port()}")
    assert r.returncode == 1, r.stderr
    assert "could not be used" in said(r) and "Traceback" not in said(r)
