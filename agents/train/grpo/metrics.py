"""What the windowed GRPO trainer logs per generation: the policy's own figures, then the refilled batch's.

DAPO dynamic sampling replaces degenerate groups (all right or all wrong) before training, so the
batch trained on is not what the policy played. The headline names are therefore computed on the
**first round**: the episodes played before any refill (gathered over every rank).

- ``reward``, ``reward_std``: mean and standard deviation, over the valid first-round trajectories,
  of the score = return + group exploration term (as :func:`~agents.train.grpo.scoring.score_groups`
  computes it on the first-round numbers).
- ``rewards/{format,accuracy,cot_gain,exploration,return}/mean``, ``format_rate``,
  ``frac_reward_zero_std`` (share of groups whose scores are all equal).
- ``trajectory/{tool_calls,frames_fetched,invalid_turns,rows}/mean`` (rows = turns per trajectory),
  ``trajectory/{tool_use_rate,finished_rate,length_truncated_rate}``, ``trajectory/unreadable``
  (trajectories whose pair could not be read).

The ``refilled/`` prefix holds the same reward figures over the batch actually trained on, after the
refills (equal to the headline when nothing was refilled): ``refilled/reward``,
``refilled/reward_std``, ``refilled/rewards/{format,accuracy,cot_gain,exploration,return}/mean``,
``refilled/format_rate``, ``refilled/frac_reward_zero_std``, ``refilled/trajectory/unreadable``.

Figures of the trained batch keep their names: ``dynamic_sampling/*`` (``SamplingReport``),
``rows/{real,padding}`` and ``completions/mean_length`` (tokens per real row; all three summed over
every rank), ``time/{rollout,scoring}`` (this rank's, averaged by TRL's logger).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from agents.records import EpisodeRecord
from agents.train.dynamic_sampling import SamplingReport
from agents.train.grpo.scoring import COLUMN, GroupScores
from agents.train.grpo.turn_rows import Row

#: Prefix of the post-refill figures.
REFILLED = "refilled/"


@dataclass
class RoundFigures:
    """Episodes of one generation state with their gathered stats ``(n, F)`` and scores."""

    episodes: list[EpisodeRecord | None]  # this rank's
    stats: np.ndarray  # every rank's, gathered order
    scores: GroupScores


def _mean(x: np.ndarray) -> float:
    return float(np.mean(x)) if len(x) else float("nan")


def reward_metrics(stats: np.ndarray, scores: GroupScores, prefix: str = "") -> dict[str, float]:
    """``reward``, ``reward_std``, the component means, ``format_rate``, zero-std share, unreadable count."""
    valid = stats[:, COLUMN["valid"]] > 0
    out = {f"rewards/{name}/mean": _mean(stats[valid, COLUMN[name]]) for name in ("format", "accuracy", "cot_gain")}
    out["rewards/exploration/mean"] = _mean(scores.exploration[valid])
    out["rewards/return/mean"] = _mean(stats[valid, COLUMN["return"]])
    out["reward"] = _mean(scores.score[valid])
    out["reward_std"] = float(np.std(scores.score[valid])) if valid.any() else float("nan")
    out["frac_reward_zero_std"] = _mean(scores.zero_std.astype(float))
    out["format_rate"] = _mean(stats[valid, COLUMN["format"]])
    out["trajectory/unreadable"] = float((~valid).sum())
    return {prefix + key: value for key, value in out.items()}


def trajectory_metrics(stats: np.ndarray) -> dict[str, float]:
    """Per-trajectory means of tool use, frames, invalid turns, rows, finished and truncated shares."""
    valid = stats[:, COLUMN["valid"]] > 0
    out = {f"trajectory/{name}/mean": _mean(stats[valid, COLUMN[name]]) for name in ("tool_calls", "frames_fetched")}
    out["trajectory/invalid_turns/mean"] = _mean(stats[valid, COLUMN["invalid_turns"]])
    out["trajectory/rows/mean"] = _mean(stats[valid, COLUMN["turns"]])
    out["trajectory/tool_use_rate"] = _mean(stats[valid, COLUMN["used_tool"]])
    out["trajectory/finished_rate"] = _mean(stats[valid, COLUMN["finished"]])
    out["trajectory/length_truncated_rate"] = _mean(stats[valid, COLUMN["length_truncated"]])
    return out


def row_counts(rows: Sequence[Row], real_rows: int) -> list[int]:
    """This rank's ``[real rows, padding rows, completion tokens of the real rows]`` (summed over ranks)."""
    return [real_rows, len(rows) - real_rows, sum(len(r.completion_ids) for r in rows[:real_rows])]


def generation_metrics(
    first: RoundFigures,
    final: RoundFigures,
    report: SamplingReport,
    counts: Sequence[int],
    seconds: dict[str, float],
) -> dict[str, float]:
    """Every per-generation metric: first-round headline, ``refilled/`` figures, batch figures.

    ``counts``: :func:`row_counts` summed over every rank, so ``rows/real``, ``rows/padding`` and
    ``completions/mean_length`` describe the whole generation batch, as the reward figures do.
    """
    real, padding, tokens = (int(c) for c in counts)
    metrics = {**reward_metrics(first.stats, first.scores), **trajectory_metrics(first.stats)}
    metrics.update(reward_metrics(final.stats, final.scores, REFILLED))
    metrics.update(report.metrics())
    metrics["rows/real"] = float(real)
    metrics["rows/padding"] = float(padding)
    metrics["completions/mean_length"] = tokens / real if real else float("nan")
    metrics.update({f"time/{name}": value for name, value in seconds.items()})
    return metrics
