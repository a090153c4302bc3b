"""Evaluation harness: run an agent over a benchmark, write results, metrics, a report and plots.

>>> from vr_env.eval import evaluate
>>> metrics = evaluate("answer-now", {"dataset_kwargs": {"n": 4}}, limit=4, progress=False)
>>> metrics["n"], sorted(metrics["per_dimension"])
(4, ['MQ', 'TA', 'VQ'])
"""

from __future__ import annotations

from vr_env.eval.jobs import select_pairs
from vr_env.eval.metrics import compute_metrics, reference_rows
from vr_env.eval.report import render_report, write_report
from vr_env.eval.results import EvalConfigError, ResultsFile
from vr_env.eval.runner import evaluate

__all__ = [
    "EvalConfigError",
    "ResultsFile",
    "compute_metrics",
    "evaluate",
    "reference_rows",
    "render_report",
    "select_pairs",
    "write_report",
]
