"""The end of an evaluation: metrics of the selected rows, then ``metrics.json``, ``report.md`` and plots.

One function for a single-process run, a shard's own folder and a merge of shards, so the three
write the same files from the same rows.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from vr_env.eval.results import METRICS_FILE, to_jsonable


def summarize(rows: Sequence[Mapping[str, Any]], agent: str, dataset: str, swap_check: bool) -> dict[str, Any]:
    """The metrics of ``rows`` (the selected episodes, in run order) labelled with agent and dataset."""
    from vr_env.eval.metrics import compute_metrics

    return {"agent": agent, "dataset": dataset, **compute_metrics(rows, swap_check=swap_check)}


def write_outputs(out: Path, metrics: Mapping[str, Any], plots: bool = True) -> None:
    """``metrics.json`` and ``report.md`` (with plots when ``plots``) in ``out``."""
    from vr_env.eval.report import write_report

    (out / METRICS_FILE).write_text(json.dumps(to_jsonable(metrics), indent=2) + "\n", "utf-8")
    write_report(metrics, out, plots=plots)
