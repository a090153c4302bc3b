"""Trajectory scores and group advantages from rewards gathered over every rank.

Each rank turns its episodes into a fixed-width row of numbers (:func:`episode_stats`); the trainer
gathers them, and :func:`score_groups` works on the whole generation batch, where the G consecutive
trajectories of a group may live on different ranks. The score is the environment's episode return
(format + accuracy + CoT gain, minus invalid-turn penalties) plus the group-level exploration term
``eta * max(omega - R, 0) * 1[used tool]``; advantages are normalized within each group
(``vr_env.rewards.group_advantages``) and shared by every row of a trajectory.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from agents.records import EpisodeRecord
from vr_env.rewards import exploration_bonus, group_advantages

#: Columns of :func:`episode_stats`; ``valid`` is 0 for a trajectory that never ran (unreadable pair).
STAT_FIELDS: tuple[str, ...] = (
    "valid",
    "return",
    "format",
    "accuracy",
    "cot_gain",
    "used_tool",
    "tool_calls",
    "frames_fetched",
    "turns",
    "invalid_turns",
    "finished",
    "length_truncated",
)
COLUMN = {name: i for i, name in enumerate(STAT_FIELDS)}


def episode_stats(episode: EpisodeRecord | None) -> list[float]:
    """One row of :data:`STAT_FIELDS` for ``episode`` (all zeros when it never ran)."""
    if episode is None:
        return [0.0] * len(STAT_FIELDS)
    components = episode.reward_components
    return [
        1.0,
        float(episode.total_reward),
        float(components.get("format", 0.0)),
        float(components.get("accuracy", 0.0)),
        float(components.get("cot_gain", 0.0)),
        float(episode.used_tool),
        float(episode.tool_calls),
        float(episode.frames_fetched),
        float(len(episode.turns)),
        float(episode.invalid_turns),
        float(episode.terminated),
        float(any(t.finish_reason == "length" for t in episode.turns)),
    ]


@dataclass
class GroupScores:
    """Per-trajectory scores over the whole generation batch (every rank), in gathered order."""

    exploration: np.ndarray  # (n,)
    score: np.ndarray  # (n,) return + exploration; NaN for trajectories that never ran
    advantages: np.ndarray  # (n,) 0 for trajectories that never ran
    degenerate: np.ndarray  # (n_groups,) all accuracies equal, or no trajectory ran
    zero_std: np.ndarray  # (n_groups,) all scores equal


def score_groups(
    stats: np.ndarray, group_size: int, omega: float, eta: float, scale: str = "group", eps: float = 1e-6
) -> GroupScores:
    """Exploration terms, scores, advantages and degenerate groups of gathered ``stats`` ``(n, F)``.

    ``scale`` is TRL's ``scale_rewards``: ``"group"`` divides by the group's standard deviation,
    ``"none"`` only subtracts the group mean, ``"batch"`` divides by the batch's deviation.
    """
    stats = np.asarray(stats, dtype=float)
    n = stats.shape[0]
    if n % group_size:
        raise ValueError(f"{n} trajectories do not form whole groups of {group_size}")
    valid = stats[:, COLUMN["valid"]] > 0
    exploration = np.zeros(n)
    score = np.full(n, np.nan)
    advantages = np.zeros(n)
    groups = n // group_size
    degenerate = np.zeros(groups, dtype=bool)
    zero_std = np.zeros(groups, dtype=bool)
    for g in range(groups):
        members = np.arange(g * group_size, (g + 1) * group_size)[valid[g * group_size : (g + 1) * group_size]]
        if len(members) == 0:
            degenerate[g] = zero_std[g] = True
            continue
        used = stats[members, COLUMN["used_tool"]] > 0
        exploration[members] = exploration_bonus(used.tolist(), omega, eta)
        score[members] = stats[members, COLUMN["return"]] + exploration[members]
        accuracy = stats[members, COLUMN["accuracy"]]
        degenerate[g] = bool(np.ptp(accuracy) < eps)
        zero_std[g] = bool(np.ptp(score[members]) < eps)
        if scale == "group":
            advantages[members] = group_advantages(score[members].tolist(), eps)
        elif scale in ("none", "batch"):
            advantages[members] = score[members] - score[members].mean()
        else:
            raise ValueError(f"scale_rewards must be 'group', 'batch' or 'none', got {scale!r}")
    if scale == "batch" and valid.any():
        std = float(np.nanstd(score[valid]))
        advantages = advantages / std if std > eps else np.zeros(n)
    return GroupScores(exploration, score, advantages, degenerate, zero_std)


def shuffled_advantages(advantages: np.ndarray, trained: np.ndarray, seed: int, step: int) -> np.ndarray:
    """The control of ``shuffle_advantages``: ``advantages`` permuted among the ``trained`` trajectories.

    The update keeps its size (the same advantages, on the same number of trajectories) and loses its
    direction: which trajectory is pushed up no longer depends on its reward. The permutation is drawn
    from ``(seed, step)``, so every rank applies the same one to the gathered batch; the other
    trajectories keep their advantages.

    >>> shuffled_advantages(np.array([1.0, -1.0, 0.5, 0.0]), np.array([True, True, True, False]), 0, 1).tolist()
    [0.5, 1.0, -1.0, 0.0]
    """
    advantages = np.asarray(advantages, dtype=float)
    trained_at = np.flatnonzero(np.asarray(trained, dtype=bool))
    out = advantages.copy()
    out[trained_at] = advantages[np.random.default_rng((seed, step)).permutation(trained_at)]
    return out
