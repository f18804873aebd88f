"""Prompt-length drift of a text-generation model: the mean prompt length over
monitoring.drift.window against the mean over the last day (the runtime's
deployc_request_prompt_tokens histogram, counted after the chat template).

A generation model has no build-time input baseline to compute a PSI against (its inputs are
free text), so the reference is the model's own recent traffic. DeploycPromptLengthDrift fires
when the window's mean is more than PROMPT_SHIFT times the day's, or less than its 1/PROMPT_SHIFT:
long prompts cost time to first token and KV-cache memory, short ones hint at a changed client.
An idle window has no mean (0/0 is NaN, and NaN > t is false): idleness is not drift.
"""

from __future__ import annotations

import math

from compiler.emitters.monitoring.rules import Alert, AlertCase, Group, Recording, Series, Settings, labels, num

METRIC = "deployc_request_prompt_tokens"
PROMPT_SHIFT = 2.0
DAY = "1d"
PER_MINUTE = 10  # requests per minute in the promtool cases


def mean_record(window: str) -> str:
    return f"model:deployc_prompt_tokens:mean_rate{window}"


def prompt_drift_group(s: Settings) -> Group | None:
    if s.spec.model.task != "text-generation" or not s.mon.drift.enabled:
        return None
    sel, w = s.model_selector(), s.mon.drift.window
    rules = [Recording(mean_record(x), f"sum by (model) (rate({METRIC}_sum{{{sel}}}[{x}])) / "
                                       f"sum by (model) (rate({METRIC}_count{{{sel}}}[{x}]))")
             for x in dict.fromkeys((w, DAY))]
    expr = f"abs(ln({mean_record(w)}{{{sel}}} / {mean_record(DAY)}{{{sel}}})) > {num(math.log(PROMPT_SHIFT))}"
    alert = Alert(
        "DeploycPromptLengthDrift", expr, "ticket",
        "Prompt length of {{ $labels.model }} drifted",
        f"The mean prompt length over {w} is more than {num(PROMPT_SHIFT)}x away from the last {DAY}'s "
        "(|ln ratio| {{ printf \"%.4g\" $value }}).",
        s.for_("15m"), _cases(s), provenance=True)
    return Group(f"deployc.{s.model}.prompt_drift", tuple(rules) + (alert,))


def _cases(s: Settings) -> tuple[AlertCase, ...]:
    """A steady mean (silent), then prompts 10x longer for the last window (fires)."""
    window_min = _minutes(s.mon.drift.window)
    steady, shift = 180, window_min + 30  # minutes before the shift, and after it
    at = f"{steady + shift}m"
    quiet = _series(s, [(steady + shift, 20)])
    loud = _series(s, [(steady, 20), (shift, 200)])
    # The day's mean holds both parts: (steady*20 + shift*200) / (steady + shift) tokens.
    day_mean = (steady * 20 + shift * 200) / (steady + shift)
    value = abs(math.log(200 / day_mean))
    cases = [AlertCase("steady prompt length: silent", quiet, at, False)]
    if value > math.log(PROMPT_SHIFT):
        cases.insert(0, AlertCase("prompts 10x longer: fires", loud, at, True, labels(model=s.model), value))
    return tuple(cases)


def _series(s: Settings, parts: list[tuple[int, int]]) -> tuple[Series, ...]:
    """_sum and _count of the histogram: PER_MINUTE requests a minute of `tokens` each, per part."""
    sums, counts, total, n = [], [], 0.0, 0.0
    for i, (minutes, tokens) in enumerate(parts):
        step = PER_MINUTE * tokens
        sums.append(f"{num(total)}+{num(step)}x{minutes}" if i == 0 else f"{num(total + step)}+{num(step)}x{minutes - 1}")
        counts.append(f"{num(n)}+{num(PER_MINUTE)}x{minutes}" if i == 0
                      else f"{num(n + PER_MINUTE)}+{num(PER_MINUTE)}x{minutes - 1}")
        total += step * minutes
        n += PER_MINUTE * minutes
    at = labels(model=s.model)
    return (Series(f"{METRIC}_sum", at, " ".join(sums)), Series(f"{METRIC}_count", at, " ".join(counts)))


def _minutes(window: str) -> int:
    value, unit = int(window[:-1]), window[-1]
    return max(1, math.ceil(value * {"s": 1 / 60, "m": 1, "h": 60}[unit]))
