"""Render a Diff as Markdown for a pull-request comment.

One line per change, in the form reviewers grep for:
`HorizontalPodAutoscaler/digits-cnn: spec.maxReplicas 6 -> 8`. Deterministic: sorted, no
times. GitHub caps a comment at 65536 characters, so the text is cut (with a note) before that.
"""

from __future__ import annotations

from compiler.diff.core import Diff, FileChange, TreeDiff
from compiler.diff.models import Metric, ModelDiff

LIMIT = 60000
PER_ITEM = 20  # field lines shown per object or rule before "... and N more"


def code(text: str) -> str:
    fence = "``" if "`" in text else "`"
    pad = " " if fence == "``" else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def render(diff: Diff) -> str:
    changed = [t for t in diff.trees if t.status != "unchanged"]
    same = len(diff.trees) - len(changed)
    lines = ["## deployc diff", "", f"{code(diff.old)} -> {code(diff.new)}: "
             f"{_count(len(changed), 'tree')} changed, {same} unchanged."]
    if not diff.trees:
        lines += ["", "No deployc output trees (folders with deployc.lock.json) were found."]
    for tree in changed:
        lines += ["", *tree_lines(tree)]
    if diff.loose:
        lines += ["", "### Files beside the trees", *(_file_lines(f) for f in diff.loose)]
    return _cap("\n".join(lines) + "\n")


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def tree_lines(tree: TreeDiff) -> list[str]:
    lines = [f"### {tree.name} ({tree.status})"]
    if tree.status in ("added", "removed"):
        return lines + ["", *_whole_tree(tree)]
    if tree.model is not None and (tree.status != "changed" or tree.model.changed):
        lines += ["", *model_lines(tree.model)]
    if tree.objects:
        lines += ["", "**Kubernetes objects**"]
        for obj in tree.objects:
            if obj.status != "changed":
                lines.append(f"- {obj.status} {code(obj.label)} ({obj.file})")
            else:
                lines += _capped([f"- changed {code(f'{obj.label}: {f.describe()}')}" for f in obj.fields], obj.label)
    if tree.rules:
        lines += ["", "**Prometheus rules**"]
        for rule in tree.rules:
            if rule.status != "changed":
                lines.append(f"- {rule.status} {rule.kind} {code(rule.label)}")
            else:
                lines += _capped([f"- changed {rule.kind} {code(f'{rule.label}: {f.describe()}')}"
                                  for f in rule.fields], rule.label)
    if tree.files:
        lines += ["", "**Other files**", *(_file_lines(f) for f in tree.files)]
    return lines


def _whole_tree(tree: TreeDiff) -> list[str]:
    """A tree that appeared or went away: what it holds, not every line of it."""
    m = tree.model
    chosen = (m.new or m.old) if m else None
    head = f"**Model**: {code(chosen.candidate)} ({chosen.format} {chosen.precision}, sha256 " \
           f"{code(chosen.sha256[:12])})" if chosen else "**Model**: -"
    return [head, "", f"{_count(len(tree.objects), 'Kubernetes object')}, "
            f"{_count(len(tree.rules), 'Prometheus rule')}, {_count(len(tree.files), 'other file')}."]


def _capped(lines: list[str], label: str) -> list[str]:
    if len(lines) <= PER_ITEM:
        return lines
    return lines[:PER_ITEM] + [f"- ... and {len(lines) - PER_ITEM} more changes of {code(label)}"]


def model_lines(m: ModelDiff) -> list[str]:
    def art(a):
        return "(none)" if a is None else f"{code(a.candidate)} ({a.format} {a.precision}, sha256 {code(a.sha256[:12])})"

    if m.old is not None and m.new is not None and m.old.sha256 == m.new.sha256:
        head = f"**Model**: selected {art(m.new)}, same digest"
    else:
        head = f"**Model**: selected {art(m.old)} -> {art(m.new)}"
    lines = [head]
    if any(x.old is not None or x.new is not None for x in m.metrics):
        lines += ["", "| selected artifact | old | new | change |", "|---|---|---|---|"]
        lines += [f"| {x.name} | {_val(x.old, m.old_note)} | {_val(x.new, m.new_note)} | {_delta(x)} |"
                  for x in m.metrics if x.old is not None or x.new is not None or "ms" in x.name]
    if m.old_note != m.new_note:
        lines += ["", f"Latency: {m.old_note or '-'} -> {m.new_note or '-'}"]
    if m.old_source != m.new_source:
        lines += ["", f"Model source: {m.old_source or '-'} -> {m.new_source or '-'}"]
    if m.candidates:
        lines += ["", "Candidates:"]
        lines += [_candidate_line(c) for c in m.candidates]
    experiment = m.new_experiment or m.old_experiment
    if experiment is not None:
        lines += ["", *experiment_lines(experiment)]
    return lines


def experiment_lines(e) -> list[str]:
    """An A/B experiment's two models side by side (report_model.Experiment)."""
    a, b = e.control, e.candidate

    def cell(v, key: str) -> str:
        if v is None:
            return "not named (rollout.experiment.control.report)" if key == "model" else "-"
        if key == "model":
            return f"{v.name} {v.version} {code(v.candidate)}"
        if key == "sha256":
            return code(v.sha256[:12])
        value = getattr(v, key)
        return "-" if value is None else f"{value:.6g}"

    rows = (("model", "model"), ("sha256", "sha256"), ("size MB", "size_mb"), ("accuracy", "accuracy"),
            ("p50 ms (batch 1, its build host)", "p50_ms"))
    return ["**Experiment**: variant A (control) and variant B (candidate)", "",
            "| | A (control) | B (candidate) |", "|---|---|---|",
            *(f"| {title} | {cell(a, key)} | {cell(b, key)} |" for title, key in rows)]


def _val(value, note: str) -> str:
    if value is None:
        return "not measured" if note and "not measured" in note else "-"
    return f"{value:.6g}"


def _delta(metric: Metric) -> str:
    d = metric.delta
    if d is None:
        return "-"
    if d == 0:
        return "0"
    pct = f" ({d / metric.old * 100:+.1f}%)" if metric.old else ""
    return f"{d:+.6g}{pct}"


def _candidate_line(c) -> str:
    if c.status != "changed":
        who = c.new or c.old
        return f"- {c.status} {code(c.candidate)} (sha256 {code(who.sha256[:12])})"
    parts = []
    if c.old.sha256 != c.new.sha256:
        parts.append(f"sha256 {c.old.sha256[:12]} -> {c.new.sha256[:12]}")
    if c.old.passed != c.new.passed:
        parts.append(f"gates {'pass' if c.old.passed else 'fail'} -> {'pass' if c.new.passed else 'fail'}")
    parts += [f"{x.name} {_val(x.old, '')} -> {_val(x.new, '')}" for x in c.metrics]
    return f"- changed {code(c.candidate)}: " + "; ".join(parts)


def _file_lines(f: FileChange) -> str:
    head = f"- {f.status} {code(f.path)}" + (f": {f.detail}" if f.detail else "")
    return "\n".join([head, *(f"  - {code(x.describe())}" for x in f.fields)])


def _cap(text: str) -> str:
    if len(text) <= LIMIT:
        return text
    cut = text.rfind("\n", 0, LIMIT)
    return text[:cut] + f"\n\n(diff cut at {LIMIT} characters; run `deployc diff` locally for the rest)\n"
