"""Evaluation plots as PNG files, drawn with matplotlib's Agg canvas (no pyplot, no global state).

A plot is written only when it shows something: a measure with no value (tau and diff when OA is
not labelled) is left out rather than drawn as 0, and the by-tool-calls and by-length plots need
at least two groups with a value. A plot from an earlier run that is not drawn now is removed.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

PER_DIMENSION_PNG = "per_dimension.png"
TOOL_CALLS_PNG = "accuracy_vs_tool_calls.png"
LENGTH_PNG = "accuracy_by_length.png"
#: Reference rows drawn beside the agent in the per-dimension plot.
PLOTTED_REFERENCES: tuple[str, ...] = ("always-video-1", "always-tie", "random-3way")


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    return figure


def _pct(value: float | None) -> float:
    return float("nan") if value is None else 100.0 * value


def per_dimension_groups(metrics: Mapping[str, Any]) -> list[str]:
    """The measures the agent has a value for, of tau, diff, TA, VQ, MQ."""
    per_dim = metrics.get("per_dimension") or {}
    values = {"tau": metrics.get("tau"), "diff": metrics.get("diff"), **{d: per_dim.get(d) for d in ("TA", "VQ", "MQ")}}
    return [name for name, value in values.items() if value is not None]


def tool_call_groups(metrics: Mapping[str, Any]) -> list[str]:
    """Tool-call counts with an OA accuracy, in order."""
    groups = metrics.get("by_tool_calls") or {}
    return [k for k in sorted(groups, key=int) if groups[k].get("tau") is not None]


def length_buckets(metrics: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Video-length buckets with a tau or diff value."""
    buckets = (metrics.get("by_length") or {}).get("buckets") or []
    return [b for b in buckets if b.get("tau") is not None or b.get("diff") is not None]


def plot_per_dimension(metrics: Mapping[str, Any], path: str | Path) -> Path:
    """Grouped bars: tau, diff, TA, VQ, MQ accuracy of the agent and of the reference judges."""
    import numpy as np

    groups = per_dimension_groups(metrics)

    def values(block: Mapping[str, Any]) -> list[float]:
        per_dim = block.get("per_dimension") or {}
        return [_pct(block.get(g) if g in ("tau", "diff") else per_dim.get(g)) for g in groups]

    series = [(str(metrics.get("agent", "agent")), values(metrics))]
    references = metrics.get("reference") or {}
    series += [(name, values(references[name])) for name in PLOTTED_REFERENCES if name in references]
    figure = _figure(8, 4)
    ax = figure.add_subplot()
    x = np.arange(len(groups))
    width = 0.8 / len(series)
    for k, (name, heights) in enumerate(series):
        bars = ax.bar(x + (k - (len(series) - 1) / 2) * width, heights, width, label=name)
        if k == 0:
            ax.bar_label(bars, fmt="%.0f", fontsize=7)
    ax.set_xticks(x, groups)
    ax.set_ylim(0, 125)
    ax.set_yticks(range(0, 101, 20))
    ax.set_ylabel("accuracy (%)")
    ax.set_title(f"{metrics.get('agent', 'agent')} on {metrics.get('dataset', '?')} (n={metrics.get('n', 0)})")
    ax.legend(fontsize=7, loc="upper center", ncol=len(series))
    figure.tight_layout()
    figure.savefig(path)
    return Path(path)


def plot_tool_calls(metrics: Mapping[str, Any], path: str | Path) -> Path:
    """OA accuracy (tau) against the number of tool calls, with the pair count on each bar."""
    groups = metrics.get("by_tool_calls") or {}
    keys = tool_call_groups(metrics)
    figure = _figure(6, 3.5)
    ax = figure.add_subplot()
    bars = ax.bar([str(k) for k in keys], [_pct(groups[k].get("tau")) for k in keys], color="tab:blue")
    ax.bar_label(bars, labels=[f"n={groups[k]['n']}" for k in keys], fontsize=7)
    ax.set_xlabel("tool calls in the episode")
    ax.set_ylabel("OA accuracy, tau (%)")
    ax.set_ylim(0, 110)
    ax.set_title("Accuracy against number of tool calls")
    figure.tight_layout()
    figure.savefig(path)
    return Path(path)


def plot_length(metrics: Mapping[str, Any], path: str | Path) -> Path:
    """tau and diff per video-length bucket."""
    import numpy as np

    buckets = length_buckets(metrics)
    figure = _figure(7, 3.5)
    ax = figure.add_subplot()
    x = np.arange(len(buckets))
    for k, key in enumerate(("tau", "diff")):
        ax.bar(x + (k - 0.5) * 0.38, [_pct(b.get(key)) for b in buckets], 0.38, label=key)
    ax.set_xticks(x, [f"{b['label']}\nn={b['n']}" for b in buckets], fontsize=7)
    ax.set_ylim(0, 105)
    ax.set_ylabel("OA accuracy (%)")
    ax.set_title("Accuracy by video length")
    ax.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path)
    return Path(path)


def write_plots(metrics: Mapping[str, Any], out_dir: str | Path) -> list[Path]:
    """The plots that show something into ``out_dir`` (stale ones removed); returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    wanted = {
        PER_DIMENSION_PNG: (plot_per_dimension, len(per_dimension_groups(metrics)) >= 1),
        TOOL_CALLS_PNG: (plot_tool_calls, len(tool_call_groups(metrics)) >= 2),
        LENGTH_PNG: (plot_length, len(length_buckets(metrics)) >= 2),
    }
    paths = []
    for name, (plot, meaningful) in wanted.items():
        if meaningful:
            paths.append(plot(metrics, out / name))
        else:
            (out / name).unlink(missing_ok=True)
    return paths
