"""model.source mlflow against a real MLflow server: resolution, the lock's record, pinning,
the flavours accepted and refused, and the errors (compiler/frontend/mlflow_source.py)."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from compiler.errors import SpecError
from compiler.frontend.mlflow_source import local_source, public_tracking_uri
from tests.conftest import run_cli
from tests.registry.conftest import MODEL, said, write_spec


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_build_from_alias_twice_gives_the_same_bytes_and_records_the_version(built, registry, mlflow_server):
    first = tree_bytes(built / "out" / "cpu-x86")
    r = run_cli("build", str(built / "deploy.yaml"), "-o", str(built / "again"), cwd=built)
    assert r.returncode == 0, r.stderr
    assert tree_bytes(built / "again" / "cpu-x86") == first
    lock = json.loads(first["deployc.lock.json"])
    record = lock["model"]
    assert (record["uri"], record["resolved"], record["name"], record["version"]) == \
        (f"models:/{MODEL}@champion", f"models:/{MODEL}/1", MODEL, "1")
    assert record["run_id"] == registry["1"] and record["flavor"] == "onnx" and not record["locked"]
    assert record["tracking_uri"] == mlflow_server and record["tracking_from"] == "model.tracking_uri"
    assert len(record["sha256"]) == 64
    note = json.loads(first["report.json"])["notes"]["model source"]
    assert f"resolved to models:/{MODEL}/1" in note and record["sha256"] in note
    # The spec digest is the spec as written (the URI), not where the download landed.
    assert "registry" not in json.dumps(lock["spec"])
    # An alert about the model names the build that runs: spec, shipped model, registry version.
    import yaml

    rules = yaml.safe_load(first["monitoring/rules.yaml"])
    alert = next(r for g in rules["groups"] for r in g["rules"] if r.get("alert") == "DeploycErrorRatioHigh")
    assert alert["annotations"]["spec"] == "tiny-mlp 1.0.0"
    assert alert["annotations"]["model_sha256"] == lock["selected"]["sha256"]
    assert alert["annotations"]["model_source"] == f"models:/{MODEL}/1 ({mlflow_server})"


def test_a_moved_alias_is_reported_and_the_lock_rebuilds_the_recorded_version(built, mlflow_server, tmp_path):
    from mlflow import MlflowClient

    client = MlflowClient(mlflow_server)
    out = tmp_path / "out"
    shutil.copytree(built / "out", out)
    old_lock = tmp_path / "v1.lock.json"
    shutil.copy(out / "cpu-x86" / "deployc.lock.json", old_lock)
    client.set_registered_model_alias(MODEL, "champion", "2")
    try:
        moved = run_cli("build", str(built / "deploy.yaml"), "-o", str(out), cwd=built)
        assert moved.returncode == 0, moved.stderr
        assert f"now resolves to models:/{MODEL}/2" in said(moved)
        new = json.loads((out / "cpu-x86" / "deployc.lock.json").read_text())
        assert new["model"]["resolved"] == f"models:/{MODEL}/2"
        pinned = run_cli("build", str(built / "deploy.yaml"), "-o", str(tmp_path / "pinned"), "--locked",
                         str(old_lock), cwd=built)
        assert pinned.returncode == 0, pinned.stderr
        lock = json.loads((tmp_path / "pinned" / "cpu-x86" / "deployc.lock.json").read_text())
        old = json.loads(old_lock.read_text())
        assert lock["model"]["resolved"] == f"models:/{MODEL}/1" and lock["model"]["locked"]
        assert lock["selected"] == old["selected"] and lock["model"]["sha256"] == old["model"]["sha256"]
        assert new["selected"]["sha256"] != old["selected"]["sha256"]  # version 2 really is another model
        # The pull request's diff says which registry versions the two builds came from.
        diff = run_cli("diff", str(tmp_path / "pinned" / "cpu-x86"), str(out / "cpu-x86"))
        assert diff.returncode == 0, diff.stderr
        source = next(line for line in diff.stdout.splitlines() if line.startswith("Model source: "))
        assert source.index(f"models:/{MODEL}/1") < source.index(" -> ") < source.index(f"models:/{MODEL}/2")
    finally:
        client.set_registered_model_alias(MODEL, "champion", "1")


def test_a_lock_for_another_uri_is_refused(built, mlflow_server, tmp_path):
    spec = write_spec(tmp_path / "spec", mlflow_server, uri=f"models:/{MODEL}/2")
    r = run_cli("validate", str(spec), cwd=tmp_path, env={"DEPLOYC_MODEL_LOCK": str(built / "out" / "cpu-x86" /
                                                                                     "deployc.lock.json")})
    assert r.returncode == 2 and "model.uri" in said(r) and "pins" in said(r)


def test_version_and_runs_uris_resolve(registry, mlflow_server, cache_dir, tmp_path):
    from compiler.frontend import load_spec

    spec = load_spec(write_spec(tmp_path / "v", mlflow_server, uri=f"models:/{MODEL}/2"))
    assert spec.registry.resolved == f"models:/{MODEL}/2" and spec.model.source == "onnx"
    assert spec.resolved["model"]["source"] == "mlflow" and "onnx" not in spec.resolved["model"]
    runs = load_spec(write_spec(tmp_path / "r", mlflow_server, uri=f"runs:/{registry['1']}/model"))
    assert runs.registry.run_id == registry["1"] and runs.registry.version == ""
    assert runs.registry.resolved == f"runs:/{registry['1']}/model" and runs.model.source == "onnx"
    assert runs.registry.flavor in ("onnx", "onnx-file")  # MLflow 3 keeps a logged model's MLmodel elsewhere


@pytest.mark.parametrize("uri, words", [
    (f"models:/{MODEL}@nobody", ["model.uri", "alias @nobody", "not found"]),
    (f"models:/{MODEL}/99", ["model.uri", "version 99", "not found"]),
    ("models:/no-such-model/1", ["model.uri", "'no-such-model'", "not found"]),
])
def test_what_the_registry_lacks_is_a_spec_error(registry, mlflow_server, cache_dir, tmp_path, uri, words):
    r = run_cli("validate", str(write_spec(tmp_path, mlflow_server, uri=uri)), cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    text = said(r)
    assert all(w in text for w in words), text
    assert "deploy.yaml:6" in text and "Traceback" not in text


def test_an_unreachable_server_fails_fast_with_exit_1(cache_dir, tmp_path):
    from tests.registry.conftest import free_port

    spec = write_spec(tmp_path, f"http://127.0.0.1:{free_port()}")
    start = time.monotonic()
    r = run_cli("validate", str(spec), cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    assert "could not be used" in said(r) and "Traceback" not in said(r)
    assert time.monotonic() - start < 60  # MLflow's own default retries would take minutes
    assert not (tmp_path / "mlflow.db").exists()


def test_no_tracking_server_and_wrong_keys_are_spec_errors(tmp_path, cache_dir):
    spec = write_spec(tmp_path, "x")
    spec.write_text(spec.read_text().replace("  tracking_uri: x\n", "  factory: model.py:build\n"))
    r = run_cli("validate", str(spec), cwd=tmp_path, env={"MLFLOW_TRACKING_URI": ""})
    assert r.returncode == 2 and "model.factory" in said(r) and "not for model.source mlflow" in said(r)
    spec.write_text(spec.read_text().replace("  factory: model.py:build\n", ""))
    r = run_cli("validate", str(spec), cwd=tmp_path, env={"MLFLOW_TRACKING_URI": ""})
    assert r.returncode == 2 and "model.tracking_uri" in said(r) and "MLFLOW_TRACKING_URI" in said(r)
    spec.write_text(spec.read_text().replace("source: mlflow", "source: onnx\n  onnx: m.onnx"))
    r = run_cli("validate", str(spec), cwd=tmp_path)
    assert r.returncode == 2 and "model.uri" in said(r) and "only for model.source mlflow" in said(r)


@pytest.mark.parametrize("uri", ["models:/a/b", "models:/a@", "runs:/xyz/model", "s3://bucket/model"])
def test_malformed_uris_are_refused_by_the_schema(tmp_path, cache_dir, uri):
    r = run_cli("validate", str(write_spec(tmp_path, "http://127.0.0.1:1", uri=uri)), cwd=tmp_path)
    assert r.returncode == 2 and "model.uri" in said(r), r.stderr


def test_the_recorded_tracking_uri_holds_no_credentials_or_host_paths():
    assert public_tracking_uri("https://user:secret@mlflow.example.com:5000/base") == \
        "https://mlflow.example.com:5000/base"
    assert public_tracking_uri("sqlite:////home/ci/mlflow.db") == "sqlite:<local store>"
    assert public_tracking_uri("/home/ci/mlruns") == "file:<local store>"
    assert public_tracking_uri("file:///home/ci/mlruns") == "file:<local store>"


def _mlmodel(folder: Path, flavors: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "MLmodel").write_text(f"flavors:\n{flavors}")
    return folder


def test_pickled_and_unknown_flavours_are_refused_naming_what_is_accepted(tmp_path):
    folder = _mlmodel(tmp_path / "pt", "  pytorch: {model_data: data}\n  python_function: {loader_module: mlflow.pytorch}\n")
    with pytest.raises(SpecError) as exc:
        local_source(folder, "models:/m/1")
    text = str(exc.value)
    assert "model.uri" in text and "pytorch pickles the whole module" in text and "mlflow.onnx.log_model" in text
    with pytest.raises(SpecError, match="xgboost"):
        local_source(_mlmodel(tmp_path / "xgb", "  xgboost: {data: model.xgb}\n"), "models:/m/1")


def test_an_mlmodel_naming_a_file_outside_its_folder_is_refused(tmp_path):
    (tmp_path / "secret.onnx").write_bytes(b"x")
    folder = _mlmodel(tmp_path / "m", "  onnx: {data: ../secret.onnx}\n")
    with pytest.raises(SpecError, match="lack"):
        local_source(folder, "models:/m/1")


def test_plain_folders_are_an_onnx_file_or_a_hugging_face_folder(tmp_path):
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "net.onnx").write_bytes(b"x")
    assert local_source(tmp_path / "o", "runs:/abc/o")[:2] == ("onnx-file", "onnx")
    (tmp_path / "h").mkdir()
    (tmp_path / "h" / "config.json").write_text("{}")
    assert local_source(tmp_path / "h", "runs:/abc/h")[:2] == ("huggingface-folder", "huggingface")
    (tmp_path / "e").mkdir()
    with pytest.raises(SpecError, match="cannot tell"):
        local_source(tmp_path / "e", "runs:/abc/e")


@pytest.mark.slow
def test_hugging_face_models_from_the_registry_derive_their_signature(mlflow_server, cache_dir, tmp_path):
    """A run's plain Hugging Face folder (runs:/) and the transformers flavour (model/ and
    components/tokenizer/ joined into one folder)."""
    pytest.importorskip("transformers", reason="huggingface sources need the `text` extra")
    import mlflow
    from transformers import AutoTokenizer, BertModel

    from compiler.frontend import load_spec
    from tests.text_models import tiny_bert

    folder = tiny_bert(tmp_path / "bert")
    mlflow.set_tracking_uri(mlflow_server)
    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(folder), "hf")
        info = mlflow.transformers.log_model(
            {"model": BertModel.from_pretrained(str(folder)), "tokenizer": AutoTokenizer.from_pretrained(str(folder))},
            name="tf", task="feature-extraction", pip_requirements=[], registered_model_name="tiny-bert")
    for uri, flavor in ((f"runs:/{run.info.run_id}/hf", "huggingface-folder"),
                        (f"models:/tiny-bert/{info.registered_model_version}", "transformers")):
        spec_dir = tmp_path / flavor
        spec_dir.mkdir()
        (spec_dir / "eval.jsonl").write_text('{"text": "a sentence"}\n')
        (spec_dir / "deploy.yaml").write_text(
            f"defaults: [{{target: cpu-x86}}, _self_]\nname: text-test\nversion: '1'\nmodel:\n  source: mlflow\n  uri: {uri}\n"
            f"  tracking_uri: {mlflow_server}\n  task: sentence-embedding\n  max_length: 64\n"
            "  evaluation: {text: eval.jsonl}\n")
        spec = load_spec(spec_dir / "deploy.yaml")
        assert spec.registry.flavor == flavor and spec.model.source == "huggingface"
        assert [t.name for t in spec.model.inputs] == ["input_ids", "attention_mask", "token_type_ids"]
        assert spec.model.outputs[0].shape == ("batch", 32)
