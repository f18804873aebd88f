"""Monitoring of a text model (examples/minilm-embeddings): drift of tokens per text and of the
unknown-token share against baselines computed from the real evaluation text with the model's own
tokenizer; the rules are cross-checked against the runtime's catalog (the emitter refuses others)
and their generated unit tests pass a real promtool, including a firing case for each input."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import yaml

from compiler.emitters.monitoring import MonitoringEmitter
from compiler.frontend.huggingface import unknown_id
from compiler.passes.baseline import text_baseline
from compiler.passes.text_data import tokenizer
from compiler.runtime.catalog import SERIES
from compiler.runtime.drift import TEXT_INPUT, unknown_input
from monitoring_helpers import PROMTOOL, NO_PROMTOOL, context, promtool, write
from tests.text_models import MINILM_EXAMPLE, minilm_folder

UNKNOWN = unknown_input(TEXT_INPUT)


def _tokenized(texts: list[str]) -> dict[str, np.ndarray]:
    encodings = tokenizer(minilm_folder(), 128, truncate=False).encode_batch(texts)
    width = max(len(e.ids) for e in encodings)
    ids, mask = np.zeros((len(texts), width), np.int64), np.zeros((len(texts), width), np.int64)
    for i, e in enumerate(encodings):
        ids[i, :len(e.ids)], mask[i, :len(e.ids)] = e.ids, 1
    return {"input_ids": ids, "attention_mask": mask}


@pytest.fixture(scope="module")
def baseline():
    texts = [json.loads(line)["text"] for line in (MINILM_EXAMPLE / "eval.jsonl").read_text().splitlines() if line.strip()]
    return text_baseline(_tokenized(texts + ["🦜 parrots 🦜"]), unknown_id(minilm_folder()), 10)


@pytest.fixture(scope="module")
def folder(baseline, tmp_path_factory):
    minilm_folder()  # the example's model folder, which the spec names
    ctx = context(MINILM_EXAMPLE.name, drift=False)
    ctx = replace(ctx, runtime=replace(ctx.runtime, drift=baseline))
    return write(MonitoringEmitter().emit(ctx), tmp_path_factory.mktemp("text-monitoring"))


def test_text_baselines_hold_lengths_and_the_unknown_share(baseline):
    assert sorted(baseline) == [TEXT_INPUT, UNKNOWN]
    lengths = baseline[TEXT_INPUT]
    assert len(lengths.ratios) == len(lengths.edges) + 1 >= 5 and abs(sum(lengths.ratios) - 1) < 1e-5
    assert all(e == int(e) and 3 <= e <= 128 for e in lengths.edges)  # tokens per text, specials included
    share = baseline[UNKNOWN]
    assert share.edges == [1.0] and 0 < share.ratios[1] < 0.01  # two parrots in the whole set
    assert abs(sum(share.ratios) - 1) < 1e-6


def test_the_drift_rules_read_only_catalog_series(folder):
    rules = yaml.safe_load((folder / "rules.yaml").read_text())
    exprs = " ".join(r["expr"] for g in rules["groups"] for r in g["rules"])
    assert "deployc_input_bucket_total" in exprs and "deployc_input_baseline_ratio" in exprs
    for series in ("deployc_request_tokens_bucket", "deployc_tokens_total", "deployc_unknown_tokens_total",
                   "deployc_input_bucket_total"):
        assert series in SERIES  # the runtime exports them (tests/runtime/test_text_drift.py serves them)


@pytest.mark.skipif(PROMTOOL is None, reason=NO_PROMTOOL)
def test_length_and_unknown_share_drift_fire_in_promtool(folder):
    check = promtool("check", "rules", "--lint-fatal", "rules.yaml", cwd=folder)
    assert check.returncode == 0, check.stdout + check.stderr
    tests = promtool("test", "rules", "rules.test.yaml", cwd=folder)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    cases = yaml.safe_load((folder / "rules.test.yaml").read_text())["tests"]
    firing = {t["alert_rule_test"][0]["exp_alerts"][0]["exp_labels"]["input"] for t in cases
              if t["alert_rule_test"][0]["alertname"] == "DeploycInputDrift" and t["alert_rule_test"][0]["exp_alerts"]}
    assert firing == {TEXT_INPUT, UNKNOWN}


@pytest.mark.skipif(PROMTOOL is None, reason=NO_PROMTOOL)
def test_the_unknown_share_case_has_teeth(folder, tmp_path):
    tests = yaml.safe_load((folder / "rules.test.yaml").read_text())
    firing = next(t for t in tests["tests"] if t["alert_rule_test"][0]["exp_alerts"]
                  and t["alert_rule_test"][0]["exp_alerts"][0]["exp_labels"].get("input") == UNKNOWN)
    firing["alert_rule_test"][0]["exp_alerts"] = []
    (tmp_path / "rules.yaml").write_bytes((folder / "rules.yaml").read_bytes())
    (tmp_path / "broken.test.yaml").write_text(yaml.safe_dump({**tests, "tests": [firing]}, sort_keys=True))
    assert promtool("test", "rules", "broken.test.yaml", cwd=tmp_path).returncode != 0


def test_the_dashboard_shows_tokens_per_request_and_the_unknown_share(folder):
    dashboard = json.loads((folder / "dashboard.json").read_text())
    panels = {p["title"]: [t["expr"] for t in p["targets"]] for p in dashboard["panels"]}
    assert any("deployc_request_tokens_bucket" in e for e in panels["Tokens per request"])
    assert "deployc_unknown_tokens_total" in panels["Unknown-token share"][0]
