"""`model.source: mlflow`: a model in an MLflow registry, resolved once and pinned like a lock.

`model.uri` is `models:/name/3`, `models:/name@alias` or `runs:/<run id>/path`. The front end asks
the tracking server (the `mlflow` client; never our own HTTP) which version the URI means now,
downloads that version's artifacts into deployc's cache (one folder per content digest), and
hands the folder to an existing source: an ONNX model (`mlflow.onnx` flavour, or a folder holding
one .onnx file) becomes `source: onnx`; a Hugging Face model (`sentence_transformers` or
`transformers` flavour, or a folder with config.json) becomes `source: huggingface`. Flavours
that pickle code are refused (`REFUSED`): loading them runs whatever the registry holds.

What was resolved (version, run id, sha256 of the artifacts) is the build's record
(compiler.frontend.spec.RegistrySource; deployc.lock.json `model`). `deployc build --locked LOCK`
sets LOCK_ENV, and the URI then resolves to the version that lock recorded, whose artifacts
must still have the recorded sha256: a rebuild after the alias moved builds the same model.

The tracking server: `model.tracking_uri`, else the MLFLOW_TRACKING_URI of the person running
deployc (MLflow's own convention; a server's address and credentials belong to the host, like
--allow-path). The record says which one it was (`tracking_from`).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import yaml

from compiler.digest import files_digest
from compiler.errors import RegistryError, SpecError, SpecIssue
from compiler.frontend.spec import RegistrySource
from compiler.resources import registry_downloads

TRACKING_ENV = "MLFLOW_TRACKING_URI"
LOCK_ENV = "DEPLOYC_MODEL_LOCK"  # set by `deployc build --locked`; sweep jobs inherit it
NOT_CONTENT = {"registered_model_meta"}  # MLflow writes the name and version it was fetched as
ACCEPTED = ("onnx", "sentence_transformers", "transformers")
REFUSED = {
    "pytorch": "pickles the whole module, and loading it runs code from the registry",
    "python_function": "wraps arbitrary Python code",
    "sklearn": "is a pickle, and not a model deployc compiles",
    "keras": "is not a model deployc compiles",
    "tensorflow": "is not a model deployc compiles",
}
HOW = ("log it with mlflow.onnx.log_model, or as a Hugging Face folder (mlflow.transformers or "
       "mlflow.sentence_transformers), or use model.source pytorch with a factory and safetensors weights")
_MODELS = re.compile(r"^models:/(?P<name>[^/@]+)(/(?P<version>[0-9]+)|@(?P<alias>[A-Za-z0-9_-]+))$")
_RUNS = re.compile(r"^runs:/(?P<run>[0-9a-f]+)/(?P<path>.+)$")
_OTHER_KEYS = ("factory", "weights", "onnx", "path", "hub_id", "revision")


def apply(document: dict) -> tuple[RegistrySource | None, dict]:
    """Resolve an mlflow source in a validated document, in place: afterwards the model section
    names the downloaded onnx file or huggingface folder. Returns the record and the model
    section as the user wrote it (what the spec digest and `explain` show)."""
    model = document["model"]
    written = dict(model)
    if model.get("source") != "mlflow":
        issues = [SpecIssue(f"model.{k}", "only for model.source mlflow") for k in ("uri", "tracking_uri")
                  if model.get(k)]
        if issues:
            raise SpecError(issues)
        return None, written
    issues = [SpecIssue(f"model.{k}", "not for model.source mlflow (the registry holds the model)")
              for k in _OTHER_KEYS if model.get(k)]
    if not model.get("uri"):
        issues.append(SpecIssue("model.uri", "model.source mlflow needs model.uri (models:/name/3, "
                                             "models:/name@alias or runs:/<run id>/path)"))
    if issues:
        raise SpecError(issues)
    record, kind, local = resolve(model["uri"], *tracking(model))
    if kind == "onnx" and not (model.get("inputs") and model.get("outputs")):
        raise SpecError([SpecIssue(f"model.{k}", f"required: {record.resolved} is an ONNX model; write its "
                                                 "signature as for model.source onnx") for k in ("inputs", "outputs")
                         if not model.get(k)])
    model["source"] = kind
    model["onnx" if kind == "onnx" else "path"] = str(local)
    model["uri"] = model["tracking_uri"] = None
    return record, written


def public_model(model: dict, written: dict) -> dict:
    """The model section as the spec digest sees it: the user's source keys, the derived signature."""
    out = {k: v for k, v in model.items() if k not in ("onnx", "path")}
    out.update({k: written.get(k) for k in ("source", "uri", "tracking_uri")})
    return out


def tracking(model: dict) -> tuple[str, str]:
    if model.get("tracking_uri"):
        return model["tracking_uri"], "model.tracking_uri"
    if os.environ.get(TRACKING_ENV):
        return os.environ[TRACKING_ENV], TRACKING_ENV
    raise SpecError(SpecIssue("model.tracking_uri", f"no tracking server: set model.tracking_uri or "
                                                    f"{TRACKING_ENV} (e.g. http://mlflow.internal:5000)"))


def public_tracking_uri(uri: str) -> str:
    """The tracking URI without credentials; a local store (a path, file:, sqlite:) by its scheme
    only, so the record holds no host path."""
    parts = urlsplit(uri)
    if parts.scheme in ("", "file", "sqlite") or len(parts.scheme) == 1:  # 1: a Windows drive letter
        return f"{parts.scheme if len(parts.scheme) > 1 else 'file'}:<local store>"
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


@contextlib.contextmanager
def client_env(tracking_uri: str):
    """MLflow retries an unreachable server for minutes by default; a build says so in seconds
    (a user's own settings of these variables win). Some of MLflow's artifact code (a model
    version whose source is a logged model, models:/m-...) asks the process-wide tracking URI
    rather than the one passed in, so that is set to the chosen server too (and an unset one
    would make MLflow create ./mlflow.db in the working folder)."""
    import mlflow

    defaults = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
                "MLFLOW_HTTP_REQUEST_TIMEOUT": "60", "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
    added = [k for k in defaults if k not in os.environ]
    os.environ.update({k: defaults[k] for k in added})
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    try:
        yield
    finally:
        for k in added:
            os.environ.pop(k, None)


def registry_failure(exc: Exception, key: str, what: str, tracking_uri: str) -> Exception:
    """A SpecError when the registry says the thing named does not exist (the spec or command line
    is wrong), else a RegistryError (the server is unreachable or failed)."""
    code = getattr(exc, "error_code", "")
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    where = public_tracking_uri(tracking_uri)
    if code in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND", "INVALID_PARAMETER_VALUE"):
        return SpecError(SpecIssue(key, f"{what}: not found in the registry at {where}: {text}"))
    return RegistryError(f"{key}: the MLflow tracking server at {where} could not be used ({what}): {text}")


def resolve(uri: str, tracking_uri: str, tracking_from: str) -> tuple[RegistrySource, str, Path]:
    """(record, 'onnx' | 'huggingface', local file or folder)."""
    pin = locked_record(uri)
    wanted = pin["resolved"] if pin else uri
    with client_env(tracking_uri):
        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        name, version, run_id, resolved = _version(client, wanted, tracking_uri)
        folder = _download(resolved, tracking_uri)
    digest = _content_digest(folder)
    if pin and digest != pin["sha256"]:
        raise RegistryError(f"model.uri: {resolved} changed since the lock recorded it (artifacts sha256 "
                            f"{digest[:12]}, the lock says {pin['sha256'][:12]}); the registry's copy is not the "
                            "model that was built")
    folder = _keep(folder, digest)
    flavor, kind, local = local_source(folder, resolved)
    return (RegistrySource(uri, resolved, name, version, run_id, digest, flavor,
                           public_tracking_uri(tracking_uri), tracking_from, pin is not None), kind, local)


def locked_record(uri: str) -> dict | None:
    """The `model` record of the lock named by LOCK_ENV, when one is set."""
    import json

    path = os.environ.get(LOCK_ENV)
    if not path:
        return None
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8")).get("model")
    except (OSError, ValueError, AttributeError) as exc:
        raise SpecError(SpecIssue("--locked", f"cannot read {path}: {exc}")) from None
    if not isinstance(record, dict) or not {"uri", "resolved", "sha256"} <= set(record):
        raise SpecError(SpecIssue("--locked", f"{path} records no registry model (it was not built from "
                                              "model.source mlflow)"))
    if record["uri"] != uri:
        raise SpecError(SpecIssue("model.uri", f"the lock {path} pins {record['uri']}, not {uri}; build without "
                                               "--locked to resolve the new URI"))
    return record


def _version(client, uri: str, tracking_uri: str) -> tuple[str, str, str, str]:
    """(name, version, run id, pinned URI)."""
    runs = _RUNS.match(uri)
    if runs:
        try:
            client.get_run(runs["run"])
        except Exception as exc:
            raise registry_failure(exc, "model.uri", f"run {runs['run']}", tracking_uri) from None
        return "", "", runs["run"], uri
    m = _MODELS.match(uri)
    if m is None:
        raise SpecError(SpecIssue("model.uri", f"{uri!r} is not models:/name/version, models:/name@alias or "
                                               "runs:/<run id>/path"))
    what = f"model {m['name']!r} " + (f"version {m['version']}" if m["version"] else f"alias @{m['alias']}")
    try:
        mv = (client.get_model_version(m["name"], m["version"]) if m["version"]
              else client.get_model_version_by_alias(m["name"], m["alias"]))
    except Exception as exc:
        raise registry_failure(exc, "model.uri", what, tracking_uri) from None
    return mv.name, str(mv.version), mv.run_id or "", f"models:/{mv.name}/{mv.version}"


def _download(uri: str, tracking_uri: str) -> Path:
    import mlflow.artifacts

    root = registry_downloads()
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".download-", dir=root))
    try:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(tmp),
                                                         tracking_uri=tracking_uri, registry_uri=tracking_uri))
    except Exception as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise registry_failure(exc, "model.uri", f"the artifacts of {uri}", tracking_uri) from None
    if local.is_dir() and local.resolve() != tmp.resolve():  # runs:/id/folder lands in tmp/folder
        inner = Path(tempfile.mkdtemp(prefix=".download-", dir=root))
        os.rmdir(inner)
        os.replace(local, inner)
        shutil.rmtree(tmp, ignore_errors=True)
        return inner
    return tmp


def _content_digest(folder: Path) -> str:
    files = {p.relative_to(folder).as_posix(): p for p in sorted(folder.rglob("*"))
             if p.is_file() and p.name not in NOT_CONTENT}
    if not files:
        raise SpecError(SpecIssue("model.uri", "the registry holds no files for it"))
    return files_digest(files)


def _keep(tmp: Path, digest: str) -> Path:
    """The download, moved to its content's folder (a concurrent sweep job may have put it there)."""
    final = registry_downloads() / digest
    if final.exists():
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        os.replace(tmp, final)
    return final


def local_source(folder: Path, resolved: str) -> tuple[str, str, Path]:
    """(flavour, source kind, file or folder) of a downloaded model; a SpecError for refused ones."""
    mlmodel = folder / "MLmodel"
    if not mlmodel.is_file():
        return _plain_folder(folder, resolved)
    try:
        flavors = (yaml.safe_load(mlmodel.read_text(encoding="utf-8")) or {}).get("flavors") or {}
    except (OSError, yaml.YAMLError, AttributeError) as exc:
        raise SpecError(SpecIssue("model.uri", f"{resolved}: its MLmodel file is not readable YAML: {exc}")) from None
    if "onnx" in flavors:
        return "onnx", "onnx", _inside(folder, flavors["onnx"].get("data") or "model.onnx", resolved)
    if "sentence_transformers" in flavors:
        data = flavors["sentence_transformers"].get("data") or "model.sentence_transformer"
        return "sentence_transformers", "huggingface", _inside(folder, data, resolved)
    if "transformers" in flavors:
        return "transformers", "huggingface", _transformers_folder(folder, flavors["transformers"], resolved)
    named = sorted(flavors)
    why = "; ".join(f"{f} {REFUSED[f]}" for f in named if f in REFUSED)
    raise SpecError(SpecIssue("model.uri", f"{resolved} has the MLflow flavour(s) {', '.join(named) or 'none'}"
                                           f"{' (' + why + ')' if why else ''}; deployc builds "
                                           f"{', '.join(ACCEPTED)}: {HOW}"))


def _inside(folder: Path, rel: str, resolved: str) -> Path:
    path = (folder / rel).resolve()
    if not path.is_relative_to(folder.resolve()) or not path.exists():
        raise SpecError(SpecIssue("model.uri", f"{resolved}: its MLmodel names {rel!r}, which the artifacts lack"))
    return path


def _plain_folder(folder: Path, resolved: str) -> tuple[str, str, Path]:
    """A run's artifact folder without an MLmodel: a Hugging Face folder or one ONNX file."""
    if (folder / "config.json").is_file():
        return "huggingface-folder", "huggingface", folder
    onnx_files = sorted(folder.rglob("*.onnx"))
    if len(onnx_files) == 1:
        return "onnx-file", "onnx", onnx_files[0]
    raise SpecError(SpecIssue("model.uri", f"{resolved} has no MLmodel file, no config.json and "
                                           f"{len(onnx_files)} .onnx files: deployc cannot tell what model it is; {HOW}"))


def _transformers_folder(folder: Path, flavor: dict, resolved: str) -> Path:
    """mlflow.transformers keeps the model in model/ and the tokenizer in components/tokenizer/;
    deployc's huggingface source reads one folder, so both are copied side by side once."""
    model_dir = _inside(folder, flavor.get("model_binary") or "model", resolved)
    joined = folder.parent / f"{folder.name}.hf"
    if joined.is_dir():
        return joined
    tmp = Path(tempfile.mkdtemp(prefix=".join-", dir=folder.parent))
    shutil.copytree(model_dir, tmp, dirs_exist_ok=True)
    tokenizer = folder / "components" / "tokenizer"
    if tokenizer.is_dir():
        shutil.copytree(tokenizer, tmp, dirs_exist_ok=True)
    if joined.exists():
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        os.replace(tmp, joined)
    return joined
