"""Input drift: the population stability index (PSI) of each input against its build-time baseline.

The build captures, per input, quantile bucket edges and the share of calibration values in
each bucket (compiler/passes/baseline.py). The runtime counts live values in the same buckets
(deployc_input_bucket_total{input,bucket}) and exports the baseline shares as a gauge
(deployc_input_baseline_ratio{input,bucket}). Two recording rules, over W = monitoring.drift.window:

    live_b = rate(deployc_input_bucket_total{bucket=b}[W]) / sum over buckets of the same rate
    PSI    = sum over buckets b of (L_b - B_b) * ln(L_b / B_b),
             L_b = clamp_min(live_b, 1e-4), B_b = clamp_min(baseline_b, 1e-4)

The clamp keeps an empty bucket (live or baseline share 0) from giving ln(0) or a division
by zero; a bucket empty on both sides adds exactly 0. Buckets without live counts are filled
with 0 from the baseline's bucket list, so a value shift into a few buckets still counts the
emptied ones. An input with no traffic in the window has no live share (0/0 is NaN and
NaN > t is false): idleness is not drift. DeploycInputDrift fires when PSI stays above
monitoring.drift.threshold (0.1 is commonly read as a moderate shift, 0.2 as a significant one).

A text model has two such inputs: `text` (tokens per text, quantile buckets of the evaluation or
calibration text) and `text:unknown_tokens` (two buckets, known and unknown tokens: the
unknown-token share), so a shift in length and a rise of text the tokenizer cannot read (another
language, another script) each fire the alert with their input named.
"""

from __future__ import annotations

import math

from compiler.emitters.monitoring.rules import (
    Alert, AlertCase, Group, Recording, Series, Settings, constant, expanding, labels, num)
from compiler.runtime.config import DriftBaseline
from compiler.runtime.drift import TEXT_INPUT, unknown_input

EPSILON = 1e-4
LIVE_PER_MINUTE = 1000  # values counted per minute in the promtool cases


def share_record(s: Settings) -> str:
    return f"model_input_bucket:deployc_input_share:rate{s.mon.drift.window}"


def psi_record(s: Settings) -> str:
    return f"model_input:deployc_input_psi:rate{s.mon.drift.window}"


def drift_group(s: Settings, baseline: dict[str, DriftBaseline]) -> Group | None:
    """None when drift is off or the build has no baseline (the runtime then exports none)."""
    if not s.mon.drift.enabled or not baseline:
        return None
    sel, w = s.model_selector(), s.mon.drift.window
    base = f"max by (model, input, bucket) (deployc_input_baseline_ratio{{{sel}}})"
    live = f"sum by (model, input, bucket) (rate(deployc_input_bucket_total{{{sel}}}[{w}]))"
    total = f"sum by (model, input) (rate(deployc_input_bucket_total{{{sel}}}[{w}]))"
    share = f"({live} or 0 * {base}) / ignoring (bucket) group_left {total}"
    eps = num(EPSILON)
    lc, bc = f"clamp_min({share_record(s)}{{{sel}}}, {eps})", f"clamp_min({base}, {eps})"
    psi = f"sum by (model, input) (({lc} - {bc}) * ln({lc} / {bc}))"
    return Group(f"deployc.{s.model}.drift",
                 (Recording(share_record(s), share), Recording(psi_record(s), psi), _alert(s, baseline)))


def _alert(s: Settings, baseline: dict[str, DriftBaseline]) -> Alert:
    threshold = s.mon.drift.threshold
    return Alert(
        "DeploycInputDrift", f"{psi_record(s)}{{{s.model_selector()}}} > {num(threshold)}", "ticket",
        "Input {{ $labels.input }} of {{ $labels.model }} drifted (PSI {{ printf \"%.4g\" $value }})",
        f"The population stability index of {{{{ $labels.input }}}} over {s.mon.drift.window} against "
        f"the build-time baseline is {{{{ printf \"%.4g\" $value }}}}, above {num(threshold)}.",
        s.for_("15m"), _cases(s, baseline), provenance=True)


def _cases(s: Settings, baseline: dict[str, DriftBaseline]) -> tuple[AlertCase, ...]:
    # The first input, and a text model's unknown-token share (runtime/drift.py), whose shift
    # into its unknown bucket must fire like a length shift does.
    names = sorted({sorted(baseline)[0]} | ({unknown_input(TEXT_INPUT)} & set(baseline)))
    return tuple(case for name in names for case in _input_cases(s, name, baseline[name].ratios))


def _input_cases(s: Settings, name: str, base: list[float]) -> list[AlertCase]:
    quiet = [LIVE_PER_MINUTE * r for r in base]
    cases = [AlertCase(f"{name} matches its baseline: silent", _series(s, name, base, quiet), "20m", False)]
    # Every live value in the baseline's rarest bucket: the largest shift the buckets can show.
    rare = min(range(len(base)), key=lambda i: base[i])
    shifted = [LIVE_PER_MINUTE if i == rare else 0 for i in range(len(base))]
    value = psi([1.0 if i == rare else 0.0 for i in range(len(base))], base)
    if value > s.mon.drift.threshold:
        cases.insert(0, AlertCase(f"{name} all in bucket {rare}: fires", _series(s, name, base, shifted),
                                  "20m", True, labels(input=name, model=s.model), value))
    return cases


def _series(s: Settings, name: str, base: list[float], per_minute: list[float]) -> tuple[Series, ...]:
    out = []
    for i, (ratio, step) in enumerate(zip(base, per_minute)):
        at = labels(bucket=str(i), input=name, model=s.model)
        out.append(Series("deployc_input_baseline_ratio", at, constant(ratio, 30)))
        out.append(Series("deployc_input_bucket_total", at, expanding(0, step, 30)))
    return tuple(out)


def psi(live: list[float], base: list[float]) -> float:
    """The PSI the rules compute, for shares already normalized (used for expected values)."""
    total = 0.0
    for l_share, b_share in zip(live, base):
        lv, bv = max(l_share, EPSILON), max(b_share, EPSILON)
        total += (lv - bv) * math.log(lv / bv)
    return total
