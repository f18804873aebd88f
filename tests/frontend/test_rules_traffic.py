"""A canary weight must be the traffic the canary gets: pod-count arithmetic and rollout.traffic rules."""

from __future__ import annotations

import shutil
from fractions import Fraction
from pathlib import Path

import pytest
import yaml

from compiler.errors import EXIT_USAGE, SpecError
from compiler.frontend import load_spec
from compiler.frontend.rules_traffic import argo_pod_split, pod_count_share, realisable_weights

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
DIGITS = EXAMPLES / "digits-cnn" / "deploy.yaml"
NO_ROUTER = ["~rollout.traffic"]


def _error(overrides: list[str], spec: Path = DIGITS) -> str:
    with pytest.raises(SpecError) as info:
        load_spec(spec, overrides)
    return str(info.value)


# ---- Argo's pod-count arithmetic ------------------------------------------------------------

@pytest.mark.parametrize("replicas, weight, pods", [
    # The cases documented in argo-rollouts utils/replicaset/canary.go (end state, surge aside).
    (10, 10, (1, 9)), (10, 30, (3, 7)), (10, 5, (1, 10)), (1, 5, (1, 1)), (1, 95, (1, 1)),
    (1, 50, (1, 1)), (3, 50, (2, 2)), (4, 0, (0, 4)), (4, 100, (4, 0)),
    # float64 arithmetic: 100 * (7 / 100) is 7.000000000000001, so Argo runs 8 canary pods.
    (100, 7, (8, 93)),
    (10, 70, (7, 4)),  # 10 * (1 - 0.7) is 3.0000000000000004: 4 stable pods, 7 of 11 is 63.6%
])
def test_pod_split_is_argos(replicas, weight, pods):
    assert argo_pod_split(replicas, weight) == pods


def test_share_is_exact_only_where_the_pods_divide():
    assert pod_count_share(1, 5) == Fraction(1, 2)
    assert pod_count_share(10, 10) == Fraction(1, 10)
    assert pod_count_share(3, 50) == Fraction(1, 2)  # both rounded up: 2 of 4
    assert pod_count_share(100, 7) == Fraction(8, 101)


def test_realisable_weights_hold_for_every_replica_count():
    assert realisable_weights(10, 10) == [10, 20, 30, 40, 50, 60, 80, 90, 100]  # 70: Argo's float rounding
    assert realisable_weights(2, 6) == [50, 100]
    assert realisable_weights(1, 1) == [50, 100]
    for w in realisable_weights(4, 8):
        assert all(pod_count_share(n, w) == Fraction(w, 100) for n in range(4, 9))


# ---- spec errors ----------------------------------------------------------------------------

def test_the_issue_input_fails_the_build_with_the_real_weight(cli, tmp_path):
    """canary, set_weight 5, replicas.min 1, no router: exit 2, the key with file:line, and 50%."""
    folder = tmp_path / "spec"
    shutil.copytree(EXAMPLES / "digits-cnn", folder)
    data = yaml.safe_load((folder / "deploy.yaml").read_text())
    data["serve"]["replicas"] = {"min": 1, "max": 1}
    data["rollout"] = {"strategy": "canary", "canary": {"steps": [{"set_weight": 5}, {"pause": "1m"}]}}
    text = yaml.safe_dump(data, sort_keys=False)
    (folder / "deploy.yaml").write_text(text)
    line = next(i for i, row in enumerate(text.splitlines(), 1) if "set_weight: 5" in row)
    result = cli("build", str(folder / "deploy.yaml"), "-o", str(tmp_path / "out"))
    assert result.returncode == EXIT_USAGE, result.stderr
    message = " ".join(result.stderr.split())  # the console wraps long lines
    assert f"rollout.canary.steps[0].set_weight (deploy.yaml:{line})" in message
    assert "would give the canary 50% of the traffic, not 5%" in message
    assert "1 canary and 1 stable pod" in message and "rollout.traffic.router" in message
    assert "Traceback" not in result.stderr and not (tmp_path / "out").exists()


@pytest.mark.parametrize("replicas, weights, step, words", [
    ("{min: 2, max: 6}", "[{set_weight: 10}, {set_weight: 50}]", 0, "33.3% of the traffic, not 10%"),
    ("{min: 10, max: 10}", "[{set_weight: 10}, {set_weight: 25}]", 1, "27.3% of the traffic, not 25%"),
    ("{min: 4, max: 5}", "[{set_weight: 50}, {set_weight: 75}]", 1, "at 5 replicas"),
    ("{min: 100, max: 100}", "[{set_weight: 7}]", 0, "7.9% of the traffic, not 7%"),
])
def test_unrealisable_weight_names_the_step_and_the_real_share(replicas, weights, step, words):
    message = _error(NO_ROUTER + [f"serve.replicas={replicas}", f"rollout.canary.steps={weights}"])
    assert f"rollout.canary.steps[{step}].set_weight" in message and words in message, message


@pytest.mark.parametrize("replicas, weights", [
    ("{min: 10, max: 10}", "[{set_weight: 10}, {pause: 1m}, {set_weight: 60}]"),
    ("{min: 2, max: 6}", "[{set_weight: 50}]"),
    ("{min: 1, max: 1}", "[{set_weight: 50}, {set_weight: 100}]"),
])
def test_realisable_weights_pass_without_a_router(replicas, weights):
    spec = load_spec(DIGITS, NO_ROUTER + [f"serve.replicas={replicas}", f"rollout.canary.steps={weights}"])
    assert spec.rollout.traffic.router == "none"


@pytest.mark.parametrize("router", ["gateway-api", "nginx", "istio", "smi"])
def test_any_weight_passes_with_a_router(router):
    extra = ", gateway: {name: public}" if router == "gateway-api" else ""
    spec = load_spec(DIGITS, NO_ROUTER + [f"+rollout.traffic={{router: {router}{extra}}}",
                                          "serve.replicas={min: 1, max: 1}", "rollout.canary.steps=[{set_weight: 5}]"])
    assert spec.rollout.traffic.router == router


def test_flagger_without_a_router_is_an_error():
    message = _error(NO_ROUTER + ["+rollout.controller=flagger", "rollout.analysis.on_no_data=fail"])
    assert "rollout.traffic.router" in message and "0% of the traffic" in message, message


def test_other_strategies_ignore_the_router():
    assert load_spec(DIGITS, ["rollout.strategy=rolling"]).rollout.traffic.router == "gateway-api"
    assert load_spec(DIGITS, NO_ROUTER + ["rollout.strategy=rolling", "serve.replicas.min=1"])


@pytest.mark.parametrize("traffic, path, words", [
    ("{router: gateway-api}", "rollout.traffic.gateway.name", "needs the Gateway"),
    ("{router: nginx, gateway: {name: public}}", "rollout.traffic.gateway", "only for router gateway-api or istio"),
    ("{router: istio, ingress_class: nginx}", "rollout.traffic.ingress_class", "only for router nginx"),
    ("{router: smi, hosts: [a.example.com]}", "rollout.traffic.hosts", "only for router gateway-api, nginx or istio"),
    ("{router: nginx, hosts: ['https://a.example.com']}", "rollout.traffic.hosts[0]", "not a host name"),
    ("{router: nginx, hosts: [a.example.com, a.example.com]}", "rollout.traffic.hosts[1]", "listed twice"),
    ("{router: istio, gateway: {name: public}}", "rollout.traffic.hosts", "needs the hosts"),
    ("{router: gateway-api, gateway: {name: Public_GW}}", "rollout.traffic.gateway.name", "not an object name"),
    ("{router: gateway-api, gateway: {name: gw, namespace: Gateways}}", "rollout.traffic.gateway.namespace",
     "namespace"),
    ("{router: nginx, ingress_class: 'nginx internal'}", "rollout.traffic.ingress_class", "IngressClass"),
    ("{router: linkerd}", "rollout.traffic.router", "unallowed value"),
])
def test_router_settings_errors_name_the_key(traffic, path, words):
    message = _error(NO_ROUTER + [f"+rollout.traffic={traffic}"])
    assert path in message and words in message, message
