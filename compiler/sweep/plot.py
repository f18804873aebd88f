"""sweep.png: size and latency of each job's selected artifact, side by side.

Byte-reproducible: the Agg canvas (no display, no pyplot global state), matplotlib's default
style whatever the user's matplotlibrc says, a fixed size and dpi, and no Software/date
metadata in the PNG. Jobs without a measurement get the words, not a bar.
"""

from __future__ import annotations

import io

from compiler.sweep.report import NOT_MEASURED, Row

DPI = 100


def png(table: list[Row]) -> bytes:
    import matplotlib
    import matplotlib.style
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with matplotlib.style.context("default"), matplotlib.rc_context({"svg.hashsalt": "deployc"}):
        height = 1.2 + 0.45 * max(len(table), 1)
        fig = Figure(figsize=(11, height), dpi=DPI, layout="constrained")
        FigureCanvasAgg(fig)
        size_ax, lat_ax = fig.subplots(1, 2, sharey=True)
        labels = [r.job for r in table]
        _panel(size_ax, labels, [r.size_mb for r in table], table, "selected artifact size (MB)", "")
        _panel(lat_ax, labels, [r.p50_ms for r in table], table, "p50 latency of the selected artifact (ms)",
               NOT_MEASURED)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def _panel(ax, labels: list[str], values: list[float | None], table: list[Row], title: str, missing: str) -> None:
    positions = list(range(len(labels)))[::-1]  # first job on top
    top = max((v for v in values if v is not None), default=1.0) or 1.0
    for y, value, row in zip(positions, values, table):
        if row.status != "ok":
            ax.text(0, y, "  failed", va="center", color="#b00020")
        elif value is None:
            ax.text(0, y, f"  {missing}", va="center", color="#555555", style="italic")
        else:
            ax.barh(y, value, color="#4c72b0")
            ax.text(value, y, f" {value:.4g}", va="center", fontsize=8)
    ax.set_yticks(positions, labels)
    ax.set_xlim(0, top * 1.35)
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", alpha=0.3)
