"""Target profile values that land in the manifests (rules_target.py): checked in a profile the
spec folder adds and in overrides, each located in the profile file where it is written."""

from __future__ import annotations

import pytest

from compiler.frontend import load_spec
from tests.conftest import ROOT, run_cli
from tests.frontend.test_hostile import digits, line_of
from tests.frontend.test_load import DIGITS, spec_error

CPU_X86 = (ROOT / "targets" / "cpu-x86.yaml").read_text()


def profile(tmp_path, name: str, old: str, new: str):
    assert old in CPU_X86
    spec = digits(tmp_path)
    (tmp_path / "target").mkdir(exist_ok=True)
    path = tmp_path / "target" / f"{name}.yaml"
    path.write_text(CPU_X86.replace(old, new))
    return spec, path


@pytest.mark.parametrize("new, path, words", [
    ("resources: {cpu: 'lots', memory: 2Gi, gpu: 0}", "target.resources.cpu", "quantity"),
    ("resources: {cpu: '-1', memory: 2Gi, gpu: 0}", "target.resources.cpu", "quantity"),
    ("resources: {cpu: '0', memory: 2Gi, gpu: 0}", "target.resources.cpu", "positive"),
    ("resources: {cpu: '2', memory: 2GB, gpu: 0}", "target.resources.memory", "quantity"),
])
def test_resources_must_be_quantities(tmp_path, new, path, words):
    spec, file = profile(tmp_path, "res_bad", "resources: {cpu: '2', memory: 2Gi, gpu: 0}", new)
    issue = next(i for i in spec_error(spec, ["target=res_bad"]).issues if i.path == path)
    assert words in issue.message and issue.file == "res_bad.yaml" and issue.line == line_of(file, "resources:")


def test_node_selector_tolerations_runtime_class(tmp_path):
    spec, file = profile(tmp_path, "sel_bad", "node_selector: {kubernetes.io/arch: amd64}",
                         "node_selector: {'bad key!': 'x y'}\nruntime_class: Bad_Name\n"
                         "tolerations: [{key: 'a b', operator: Exists, value: v}]")
    issues = spec_error(spec, ["target=sel_bad"]).issues
    found = {(i.path, words) for i in issues for words in ("key name", "label value", "operator is Exists",
                                                            "RuntimeClass") if words in i.message}
    assert found == {("target.node_selector.bad key!", "key name"), ("target.node_selector.bad key!", "label value"),
                     ("target.tolerations[0].key", "key name"), ("target.tolerations[0].value", "operator is Exists"),
                     ("target.runtime_class", "RuntimeClass")}, issues
    assert {i.file for i in issues} == {"sel_bad.yaml"}


def test_valid_profile_values_pass():
    load_spec(DIGITS, ["target.resources={cpu: 500m, memory: 1.5Gi, gpu: 0}", "target.runtime_class=gvisor",
                       "target.tolerations=[{key: example.com/dedicated, operator: Equal, value: ml}]"])


def test_cli_exit_2_names_the_profile_key(tmp_path):
    spec, _ = profile(tmp_path, "res_bad", "cpu: '2'", "cpu: 'lots'")
    result = run_cli("validate", str(spec), "target=res_bad")
    out = result.stdout + result.stderr
    assert result.returncode == 2 and "Traceback" not in out and "target.resources.cpu" in out, out
