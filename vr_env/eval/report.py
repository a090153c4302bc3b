"""``report.md``: the metrics of one evaluation as Markdown tables, with reference rows and plots."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from vr_env.protocol.labels import DIMENSION_KEYS


def pct(value: float | None) -> str:
    """``0.8123`` -> ``81.2``; ``None`` -> ``-``."""
    return "-" if value is None else f"{100.0 * value:.1f}"


def num(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def accuracy_table(metrics: Mapping[str, Any]) -> str:
    """tau, diff and per-dimension accuracy (%) of the agent and the reference judges."""

    def cells(name: str, block: Mapping[str, Any]) -> list[str]:
        per_dim = block.get("per_dimension") or {}
        return [name, pct(block.get("tau")), pct(block.get("diff")), *(pct(per_dim.get(d)) for d in DIMENSION_KEYS)]

    rows = [cells(f"**{metrics.get('agent', 'agent')}**", metrics)]
    rows += [cells(name, block) for name, block in (metrics.get("reference") or {}).items()]
    return table(["judge", "tau", "diff", *DIMENSION_KEYS], rows)


def render_report(metrics: Mapping[str, Any], plot_files: Sequence[str] = ()) -> str:
    """The Markdown text of ``report.md``."""
    m = metrics
    parts = [
        f"# Evaluation: {m.get('agent', '?')} on {m.get('dataset', '?')}",
        f"{m.get('n', 0)} pairs judged ({m.get('n_non_tie', 0)} with a non-tie OA label), "
        f"{m.get('skipped', 0)} episode(s) skipped. Accuracies in %.",
        "## Accuracy",
        accuracy_table(m),
        "tau: OA accuracy over all pairs, a tie being a valid label; diff: OA accuracy over pairs whose "
        "OA label is not a tie; TA / VQ / MQ: accuracy over the pairs labelled for that dimension.",
        "Reference rows are scored on the same labels: "
        + "; ".join(f"{name}: {block.get('note', '')}" for name, block in (m.get("reference") or {}).items())
        + ".",
        "## Behaviour",
        table(
            [
                "tool calls / pair",
                "tool use",
                "frames fetched / pair",
                "turns / pair",
                "invalid turn rate",
                "format ok",
                "truncated",
                "no answer",
                "mean return",
            ],
            [
                [
                    num(m.get("tool_calls_mean")),
                    pct(m.get("tool_use_rate")),
                    num(m.get("frames_fetched_mean"), 1),
                    num(m.get("turns_mean")),
                    pct(m.get("invalid_turn_rate")),
                    pct(m.get("format_ok_rate")),
                    pct(m.get("truncated_rate")),
                    pct(m.get("no_answer_rate")),
                    num(m.get("return_mean"), 3),
                ]
            ],
        ),
        "Rates in %; invalid turn rate = invalid turns / all turns.",
        "## Swap consistency",
    ]
    if m.get("swap_consistency") is None:
        parts.append("Not measured (run with `--swap-check`).")
    else:
        parts.append(
            table(
                ["pairs", "OA verdict survives the swap", "all four keys survive", "tau on swapped pairs"],
                [
                    [
                        str(m.get("swap_pairs")),
                        pct(m.get("swap_consistency")),
                        pct(m.get("swap_consistency_all_keys")),
                        pct(m.get("tau_swapped")),
                    ]
                ],
            )
        )
    by_length = m.get("by_length") or {}
    parts.append("## By video length")
    if by_length.get("buckets"):
        unit = "seconds (mean of the two videos)" if by_length.get("unit") == "s" else "frames (mean of the two videos)"
        rows = [[b["label"], str(b["n"]), pct(b.get("tau")), pct(b.get("diff"))] for b in by_length["buckets"]]
        parts += [
            f"Terciles of pair length in {unit}, plus the longest 10 %.",
            table(["length", "n", "tau", "diff"], rows),
        ]
        if by_length.get("unmeasured"):
            parts.append(f"{by_length['unmeasured']} pair(s) without a known length are left out of this table.")
    else:
        parts.append("No video length known.")
    tool_rows = [
        [k, str(v["n"]), pct(v.get("tau")), pct(v.get("diff"))] for k, v in (m.get("by_tool_calls") or {}).items()
    ]
    parts += ["## By number of tool calls", table(["tool calls", "n", "tau", "diff"], tool_rows)]
    confusion = m.get("oa_confusion") or {}
    if confusion:
        answers = list(next(iter(confusion.values())))
        parts += [
            "## OA confusion (rows: label, columns: answer)",
            table(
                ["label \\ answer", *answers],
                [[label, *(str(v[a]) for a in answers)] for label, v in confusion.items()],
            ),
        ]
    if m.get("skipped"):
        rows = [
            [
                str(s.get("pair_index")),
                str(s.get("pair_id")),
                "yes" if s.get("swapped") else "no",
                str(s.get("reason")).replace("|", "/"),
            ]
            for s in m.get("skipped_pairs") or []
        ]
        parts += [f"## Skipped ({m['skipped']})", table(["pair index", "pair id", "swapped", "reason"], rows)]
    if plot_files:
        parts.append("## Plots")
        parts += [f"![{Path(name).stem}]({Path(name).name})" for name in plot_files]
    return "\n\n".join(parts) + "\n"


def write_report(metrics: Mapping[str, Any], out_dir: str | Path, plots: bool = True) -> Path:
    """Write ``report.md`` (and the plots, when ``plots``) into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plot_files: list[str] = []
    if plots:
        from vr_env.eval.plots import write_plots

        plot_files = [p.name for p in write_plots(metrics, out)]
    path = out / "report.md"
    path.write_text(render_report(metrics, plot_files), encoding="utf-8")
    return path
