"""`deployc register OUT/TARGET`: record a build in the MLflow model registry.

What a registry reader needs to find the running deployment from a model version and back:
- an MLflow run (experiment `deployc`) with the spec's name, version and digest as params, the
  selected candidate's verification metrics, and the tree's reviewable files as artifacts under
  `deployment/` (the model, report, lock, manifests, rules; not the vendored wheels: the lock
  holds their digests);
- a new version of the registered model `<spec name>-<target>` (or --name) whose source is that
  folder, tagged with the links: spec digest, selected artifact sha256, the image (id, tags, the
  reference the manifests run), digests of k8s/ and monitoring/, the gates' outcome, and the
  registry version the model came from (model.source mlflow);
- on that source version, a tag `deployc.deployed.<target>` naming the new version.
Registering the same tree twice finds the version it made (tag deployc.lock_sha256) instead of
making another.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import yaml

from compiler.digest import sha256_file, sha256_json
from compiler.errors import SpecError, SpecIssue
from compiler.frontend.mlflow_source import TRACKING_ENV, client_env, public_tracking_uri, registry_failure

EXPERIMENT = "deployc"
LOGGED = ("model/", "k8s/", "monitoring/", "bundle/", "triton/", "report.json", "report.md", "deployc.lock.json",
          "image/runtime.json", "image/Dockerfile", "image/requirements.lock")


@dataclass(frozen=True)
class Registered:
    name: str
    version: str
    run_id: str
    created: bool  # False: this tree was registered before; that version is returned
    tracking_uri: str  # without credentials


@dataclass(frozen=True)
class Build:
    """The parts of a built tree that register reads."""

    root: Path
    lock: dict
    report: dict
    lock_sha256: str


def read_build(tree: Path) -> Build:
    lock_path, report_path = tree / "deployc.lock.json", tree / "report.json"
    if not lock_path.is_file() or not report_path.is_file():
        raise SpecError(SpecIssue("TREE", f"{tree} is not a deployc build (no deployc.lock.json and report.json); "
                                          "give a target folder such as out/cpu-x86"))
    try:
        lock, report = json.loads(lock_path.read_text("utf-8")), json.loads(report_path.read_text("utf-8"))
        lock["spec"]["digest"], lock["selected"]["sha256"], report["selected"]["candidate"]
    except (ValueError, KeyError, TypeError) as exc:
        raise SpecError(SpecIssue("TREE", f"{tree}: deployc.lock.json or report.json is not deployc's "
                                          f"({type(exc).__name__}: {exc})")) from None
    return Build(tree, lock, report, sha256_file(lock_path))


def tracking_uri(build: Build, given: str | None) -> str:
    """--tracking-uri, else MLFLOW_TRACKING_URI, else the server the model came from (when the
    lock names a reachable kind of server, not a local store)."""
    import os

    recorded = (build.lock.get("model") or {}).get("tracking_uri", "")
    uri = given or os.environ.get(TRACKING_ENV) or ("" if "<local store>" in recorded else recorded)
    if not uri:
        raise SpecError(SpecIssue("--tracking-uri", f"no tracking server: pass --tracking-uri or set {TRACKING_ENV}"))
    return uri


def register(tree: Path, name: str | None = None, given_uri: str | None = None) -> Registered:
    build = read_build(Path(tree))
    uri = tracking_uri(build, given_uri)
    spec, target = build.lock["spec"], build.lock["target"]
    name = name or f"{spec['name']}-{target}"
    with client_env(uri):
        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        try:
            found = _already(client, name, build.lock_sha256)
            if found is not None:
                return Registered(name, str(found.version), found.run_id or "", False, public_tracking_uri(uri))
            run_id = _log_run(client, build)
            _ensure_model(client, name)
            source = f"{client.get_run(run_id).info.artifact_uri}/deployment"
            mv = client.create_model_version(name, source, run_id=run_id, tags=version_tags(build),
                                             description=_description(build))
            _tag_source(client, build, name, str(mv.version))
        except SpecError:
            raise
        except Exception as exc:
            raise registry_failure(exc, "TREE", f"registering {build.root.name} as {name}", uri) from None
    return Registered(name, str(mv.version), run_id, True, public_tracking_uri(uri))


def _already(client, name: str, lock_sha: str):
    try:
        hits = client.search_model_versions(f"name = '{_quote(name)}'")
    except Exception as exc:
        if getattr(exc, "error_code", "") == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise
    return next((v for v in hits if (v.tags or {}).get("deployc.lock_sha256") == lock_sha), None)


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")


def _ensure_model(client, name: str) -> None:
    try:
        client.get_registered_model(name)
    except Exception as exc:
        if getattr(exc, "error_code", "") != "RESOURCE_DOES_NOT_EXIST":
            raise
        client.create_registered_model(name, description="Deployments built by deployc, one version per build.")


def _log_run(client, build: Build) -> str:
    spec, target = build.lock["spec"], build.lock["target"]
    experiment = client.get_experiment_by_name(EXPERIMENT)
    exp_id = experiment.experiment_id if experiment else client.create_experiment(EXPERIMENT)
    run = client.create_run(exp_id, run_name=f"{spec['name']}-{spec['version']}-{target}",
                            tags={"deployc.target": target, "deployc.spec.name": spec["name"]})
    run_id = run.info.run_id
    params = {"spec.name": spec["name"], "spec.version": spec["version"], "spec.digest": spec["digest"],
              "target": target, "selected": build.lock["selected"]["candidate"]}
    for key, value in params.items():
        client.log_param(run_id, key, value)
    for key, value in selected_metrics(build.report).items():
        client.log_metric(run_id, key, value)
    for rel in LOGGED:
        path = build.root / rel
        if path.is_dir():
            client.log_artifacts(run_id, str(path), f"deployment/{rel.rstrip('/')}")
        elif path.is_file():
            client.log_artifact(run_id, str(path), f"deployment/{Path(rel).parent.as_posix()}".rstrip("/."))
    client.set_terminated(run_id, "FINISHED")
    return run_id


def selected_metrics(report: dict) -> dict[str, float]:
    """The shipped candidate's verification numbers (finite ones only: MLflow stores floats)."""
    chosen = next((c for c in report.get("candidates", []) if c.get("candidate") == report["selected"]["candidate"]), {})
    out = {k: float(chosen[k]) for k in ("max_abs_error", "cosine", "cosine_min", "top1_agreement", "accuracy",
                                         "accuracy_drop", "size_mb") if isinstance(chosen.get(k), (int, float))}
    for row in chosen.get("latency") or []:
        for q in ("p50_ms", "p99_ms"):
            if isinstance(row.get(q), (int, float)):
                out[f"latency_b{row['batch']}_{q}"] = float(row[q])
    return out


def version_tags(build: Build) -> dict[str, str]:
    lock, report = build.lock, build.report
    chosen = next((c for c in report.get("candidates", []) if c.get("candidate") == report["selected"]["candidate"]), {})
    tags = {
        "deployc.spec.name": lock["spec"]["name"], "deployc.spec.version": lock["spec"]["version"],
        "deployc.spec.digest": lock["spec"]["digest"], "deployc.target": lock["target"],
        "deployc.selected": lock["selected"]["candidate"], "deployc.model.sha256": lock["selected"]["sha256"],
        "deployc.lock_sha256": build.lock_sha256,
        "deployc.gates": "passed" if chosen.get("passed") else "failed",
        "deployc.gates.thresholds": json.dumps(report.get("gates") or {}, sort_keys=True),
        "deployc.manifests.sha256": _folder_digest(lock, "k8s/"),
        "deployc.monitoring.sha256": _folder_digest(lock, "monitoring/"),
    }
    image = lock.get("image") or {}
    if image:
        tags["deployc.image.id"] = str(image.get("id", ""))
        tags["deployc.image.tags"] = ",".join(image.get("tags") or [])
    refs = manifest_images(build.root)
    if refs:
        tags["deployc.image.ref"] = ",".join(refs)
    source = lock.get("model") or {}
    if source:
        tags["deployc.source.uri"] = source.get("uri", "")
        tags["deployc.source.version"] = source.get("resolved", "")
        tags["deployc.source.run_id"] = source.get("run_id", "")
        tags["deployc.source.sha256"] = source.get("sha256", "")
    return {k: v for k, v in tags.items() if v}


def _folder_digest(lock: dict, prefix: str) -> str:
    files = {k: v for k, v in (lock.get("files") or {}).items() if k.startswith(prefix)}
    return sha256_json(files) if files else ""


def manifest_images(root: Path) -> list[str]:
    """The image references the Kubernetes manifests run (what the cluster pulls)."""
    refs: set[str] = set()

    def walk(node) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "image" and isinstance(value, str):
                    refs.add(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)
    for path in sorted((root / "k8s").glob("*.yaml")):
        try:
            for doc in yaml.safe_load_all(path.read_text("utf-8")):
                walk(doc)
        except (OSError, yaml.YAMLError):
            continue
    return sorted(refs)


def _description(build: Build) -> str:
    spec, source = build.lock["spec"], build.lock.get("model") or {}
    text = f"deployc build of {spec['name']} {spec['version']} for {build.lock['target']}"
    return text + (f", from {source['resolved']}" if source.get("resolved") else "")


def _tag_source(client, build: Build, name: str, version: str) -> None:
    source = build.lock.get("model") or {}
    if source.get("name") and source.get("version"):
        client.set_model_version_tag(source["name"], source["version"], f"deployc.deployed.{build.lock['target']}",
                                     f"models:/{name}/{version}")
