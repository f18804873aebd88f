"""The OpenAPI document matches the routes; `serve()` is the blocking entry the CLI calls."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import jsonschema

from compiler.runtime.openapi import OPENAPI
from .helpers import MODEL, copy_runtime, free_port, toy_config, write_root


def _paths(name: str = MODEL, version: str = "1") -> dict[str, str]:
    return {p: p.replace("{name}", name).replace("{version}", version) for p in OPENAPI["paths"]}


def test_openapi_is_served_and_every_get_path_answers_as_documented(server):
    status, _, body = server.request("GET", "/v2/openapi.json")
    assert status == 200 and json.loads(body) == json.loads(json.dumps(OPENAPI))
    for template, path in _paths().items():
        op = OPENAPI["paths"][template]
        if "get" not in op:
            continue
        status, _, raw = server.request("GET", path)
        assert str(status) in op["get"]["responses"], (path, status)
        schema = op["get"]["responses"][str(status)]["content"]
        if "application/json" in schema:
            ref = schema["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
            _validate(json.loads(raw), ref)


def _validate(doc, ref: str) -> None:
    """OpenAPI 3.0 schemas here use only the JSON Schema subset jsonschema checks as is."""
    root = {"components": {"schemas": OPENAPI["components"]["schemas"]}, "$ref": f"#/components/schemas/{ref}"}
    jsonschema.validate(doc, root)


def test_infer_response_matches_its_schema(server):
    doc = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 4], "data": [1, 2, 3, 4]},
                      {"name": "ids", "datatype": "INT64", "shape": [1, 1], "data": [3]}]}
    status, body = server.post_json(f"/v2/models/{MODEL}/infer", doc)
    assert status == 200
    _validate(body, "InferResponse")
    status, body = server.post_json(f"/v2/models/{MODEL}/infer", {"inputs": []})
    assert status == 400 and "400" in OPENAPI["paths"]["/v2/models/{name}/infer"]["post"]["responses"]
    _validate(body, "Error")


def test_serve_function_blocks_until_sigterm(tmp_path):
    """What `deployc serve OUT/TARGET` does: serve(root, host, port, metrics_port) in-process."""
    root = write_root(tmp_path / "image", toy_config())
    pkg = copy_runtime(tmp_path / "pkg")
    port, metrics_port = free_port(), free_port()
    code = (f"from pathlib import Path; import runtime; runtime.serve(Path({str(root)!r}), '127.0.0.1', {port}, "
            f"{metrics_port}); print('serve returned')")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=pkg, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    import http.client

    try:
        for _ in range(300):
            try:
                conn = http.client.HTTPConnection("127.0.0.1", metrics_port, timeout=5)
                conn.request("GET", "/metrics")
                if b"deployc_model_ready" in conn.getresponse().read():
                    break
            except OSError:
                time.sleep(0.05)
        time.sleep(0.3)
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    assert out.strip().endswith("serve returned")
