"""`deployc diff` on hand-made output trees: objects, rules, models, other files; exit codes. Fast."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

from compiler.diff import DiffInputError, diff_paths, render
from compiler.diff.fields import field_changes
from compiler.diff.rules import expr_changes
from tests.conftest import run_cli
from tests.report_samples import sample_report

HPA = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
       "metadata": {"name": "digits-cnn", "namespace": "default", "labels": {"app.kubernetes.io/version": "1.0.0"}},
       "spec": {"minReplicas": 2, "maxReplicas": 6}}
ROLLOUT = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "metadata": {"name": "digits-cnn"},
           "spec": {"replicas": 2, "template": {"spec": {"containers": [
               {"name": "server", "image": "digits:1", "resources": {"limits": {"cpu": "2"}}},
               {"name": "sidecar", "image": "proxy:1"}]}}}}
GROUPS = [{"name": "deployc.digits-cnn.drift", "rules": [
    {"record": "model_input:deployc_input_psi:rate1h", "expr": "sum(rate(x[1h]))"},
    {"alert": "DeploycInputDrift", "expr": 'model_input:deployc_input_psi:rate1h{model="digits-cnn"} > 0.2',
     "for": "15m", "labels": {"severity": "ticket"}}]}]
# onnx-fp32 selected: 0.1666 MB, accuracy 0.9933, cosine 1, p50/p99 0.015/0.03 ms at batch 1.
REPORT = sample_report().to_json_dict()


def make_tree(root: Path, hpa=HPA, rollout=ROLLOUT, groups=GROUPS, report=REPORT, runtime=None, model=b"\0onnx1") -> Path:
    files = {
        "k8s/hpa.yaml": yaml.safe_dump(hpa, sort_keys=True),
        "k8s/rollout.yaml": yaml.safe_dump(rollout, sort_keys=True),
        "monitoring/rules.yaml": yaml.safe_dump({"groups": groups}, sort_keys=True),
        "monitoring/prometheusrule.yaml": yaml.safe_dump({
            "apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
            "metadata": {"name": "digits-cnn", "namespace": "monitoring"}, "spec": {"groups": groups}}),
        "report.json": json.dumps(report, sort_keys=True),
        "image/runtime.json": json.dumps(runtime or {"batching": {"max_batch_size": 32}}, sort_keys=True),
        "image/Dockerfile": "FROM base\nCOPY . /app\n",
        "deployc.lock.json": "{}\n",
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    (root / "model").mkdir(exist_ok=True)
    (root / "model" / "model.onnx").write_bytes(model)
    return root


def _changed(**kw):
    return {k: copy.deepcopy(v) for k, v in kw.items()}


def test_identical_trees_have_no_changes(tmp_path):
    old, new = make_tree(tmp_path / "old" / "cpu-x86"), make_tree(tmp_path / "new" / "cpu-x86")
    diff = diff_paths(old, new)
    assert not diff.changed
    assert "0 trees changed, 1 unchanged" in render(diff)


def test_replicas_threshold_and_model_changes_are_named(tmp_path):
    hpa = copy.deepcopy(HPA)
    hpa["spec"]["maxReplicas"] = 8
    hpa["metadata"]["labels"]["app.kubernetes.io/version"] = "1.1.0"
    rollout = copy.deepcopy(ROLLOUT)
    rollout["spec"]["template"]["spec"]["containers"].reverse()  # order alone is no change
    rollout["spec"]["template"]["spec"]["containers"][1]["resources"]["limits"]["cpu"] = "4"
    groups = copy.deepcopy(GROUPS)
    groups[0]["rules"][1]["expr"] = groups[0]["rules"][1]["expr"].replace("0.2", "0.3")
    groups[0]["rules"][1]["for"] = "30m"
    groups[0]["rules"].append({"alert": "NewAlert", "expr": "up == 0"})
    report = copy.deepcopy(REPORT)
    report["selected"]["sha256"] = report["candidates"][0]["sha256"] = "b" * 64
    report["candidates"][0]["size_mb"] = 0.0905
    report["candidates"][0]["latency"][0]["p50_ms"] = 0.012
    old = make_tree(tmp_path / "old" / "cpu-x86")
    new = make_tree(tmp_path / "new" / "cpu-x86", hpa=hpa, rollout=rollout, groups=groups, report=report,
                    runtime={"batching": {"max_batch_size": 64}}, model=b"\0onnx2")
    text = render(diff_paths(old, new))
    assert "HorizontalPodAutoscaler/digits-cnn: spec.maxReplicas 6 -> 8" in text
    assert 'HorizontalPodAutoscaler/digits-cnn: metadata.labels["app.kubernetes.io/version"] 1.0.0 -> 1.1.0' in text
    assert "Rollout/digits-cnn: spec.template.spec.containers[name=server].resources.limits.cpu 2 -> 4" in text
    assert "sidecar" not in text
    assert "deployc.digits-cnn.drift/DeploycInputDrift: expr threshold 0.2 -> 0.3" in text
    assert "deployc.digits-cnn.drift/DeploycInputDrift: for 15m -> 30m" in text
    assert "added alert `deployc.digits-cnn.drift/NewAlert`" in text
    assert text.count("DeploycInputDrift: expr threshold") == 1  # rules.yaml and the PrometheusRule: one rule
    assert "sha256 `aaaaaaaaaaaa`) -> `onnx-fp32` (onnx fp32, sha256 `bbbbbbbbbbbb`)" in text
    assert "| size MB | 0.1666 | 0.0905 | -0.0761 (-45.7%) |" in text
    assert "| p50 ms (batch 1) | 0.015 | 0.012 | -0.003 (-20.0%) |" in text
    assert "`batching.max_batch_size 32 -> 64`" in text
    assert "changed `model/model.onnx`: sha256" in text
    assert "image/Dockerfile" not in text and "deployc.lock.json" not in text


def test_unmeasured_latency_is_not_a_number(tmp_path):
    report = copy.deepcopy(REPORT)
    report.update(measured=False, latency_note="not measured on this host (GPU target)")
    report["candidates"][0]["latency"] = []
    report["candidates"][0]["size_mb"] = 0.2
    text = render(diff_paths(make_tree(tmp_path / "a" / "t"), make_tree(tmp_path / "b" / "t", report=report)))
    assert "| p50 ms (batch 1) | 0.015 | not measured | - |" in text


def test_folders_of_trees_pair_by_name_and_show_added_and_removed(tmp_path):
    make_tree(tmp_path / "old" / "cpu-x86")
    make_tree(tmp_path / "old" / "android-arm64")
    hpa = copy.deepcopy(HPA)
    hpa["spec"]["maxReplicas"] = 3
    make_tree(tmp_path / "new" / "cpu-x86", hpa=hpa)
    make_tree(tmp_path / "new" / "nvidia-a100")
    (tmp_path / "new" / ".deployc").mkdir()
    (tmp_path / "new" / ".deployc" / "cpu-x86.build.json").write_text("[]")  # logs are not compared
    (tmp_path / "new" / "sweep.md").write_text("# Sweep\n")
    diff = diff_paths(tmp_path / "old", tmp_path / "new")
    assert [(t.name, t.status) for t in diff.trees] == [
        ("android-arm64", "removed"), ("cpu-x86", "changed"), ("nvidia-a100", "added")]
    text = render(diff)
    assert "### nvidia-a100 (added)" in text and "3 Kubernetes objects, 2 Prometheus rules" in text
    assert "HorizontalPodAutoscaler/digits-cnn: spec.maxReplicas 6 -> 3" in text
    assert "added `sweep.md`" in text and "build.json" not in text


def test_reformatted_yaml_is_flagged_as_formatting_only(tmp_path):
    old = make_tree(tmp_path / "a" / "t")
    new = make_tree(tmp_path / "b" / "t")
    (new / "k8s" / "hpa.yaml").write_text(yaml.safe_dump(HPA, sort_keys=False))
    text = render(diff_paths(old, new))
    assert "`k8s/hpa.yaml`" in text and "formatting only" in text


def test_field_paths_and_expr_numbers():
    changes = field_changes({"a": {"b.c": 1, "l": [1, 2]}, "gone": 1}, {"a": {"b.c": 2, "l": [1, 2, 3]}, "new": "x y"})
    assert [c.describe() for c in changes] == ['a["b.c"] 1 -> 2', "a.l [1, 2] -> [1, 2, 3]",
                                               "gone removed (was 1)", 'new added: "x y"']
    # rate windows ([5m]), recording-rule names (rate1h) and label values are not thresholds
    old = 'rate(x{le="0.25"}[5m]) > 0.0144 and y:rate1h > 0.0144'
    assert [c.describe() for c in expr_changes(old, old.replace("0.0144", "0.0288"))] == [
        "expr threshold 0.0144 -> 0.0288"]
    assert expr_changes(old, old.replace("[5m]", "[10m]"))[0].path == "expr"


def test_diff_cli_exit_codes(tmp_path):
    old, new = make_tree(tmp_path / "old" / "t"), make_tree(tmp_path / "new" / "t", model=b"\0other")
    r = run_cli("diff", str(old), str(new))
    assert r.returncode == 0 and "changed `model/model.onnx`" in r.stdout
    missing = run_cli("diff", str(old), str(tmp_path / "nope"))
    assert missing.returncode == 2 and "no such folder" in " ".join(missing.stderr.split())
    assert "Traceback" not in missing.stderr
    with pytest.raises(DiffInputError):
        diff_paths(tmp_path / "nope", new)
