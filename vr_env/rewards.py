"""Rewards as small named functions combined with weights by one :class:`Rubric` (spec section 3).

Episode reward ``f = w_fmt * format + w_acc * accuracy + w_cot * cot_gain`` where

- ``format`` is 1 when the episode ended with a final answer and every turn followed the protocol;
- ``accuracy`` is ``alpha * 1[OA right] + (1 - alpha) * mean_d 1[d right]`` of the scored answer;
- ``cot_gain`` is ``k * (accuracy(last answer) - accuracy(first answer))`` over the turns that gave one.

The exploration term is group-level (:func:`exploration_bonus`), for trainers. Every component is
reported in ``info["reward_components"]``.

>>> from vr_env.protocol.parsing import parse_answer
>>> labels = {"TA": 1, "VQ": 2, "MQ": 0, "OA": 1}
>>> answer_accuracy(parse_answer("TA=1, VQ=1, MQ=0, OA=1", "final"), labels, alpha=0.5)
0.8333333333333333
>>> exploration_bonus([True] + [False] * 7, omega=0.2, eta=0.5).round(4).tolist()
[0.0375, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from vr_env.config import RewardWeights
from vr_env.protocol.labels import DIMENSION_KEYS
from vr_env.protocol.parsing import Answer

Labels = Mapping[str, "int | None"]
#: The paper's weights: the one source of every default below (``vr_env.config.RewardWeights``).
PAPER = RewardWeights()


@dataclass(frozen=True)
class EpisodeOutcome:
    """What the rubric needs to score one finished (or truncated) episode."""

    labels: Labels
    answers: tuple[Answer | None, ...]
    turn_format_ok: tuple[bool, ...]
    finished: bool
    used_tool: bool
    invalid_turns: int = 0

    @property
    def scored_answer(self) -> Answer | None:
        """The final answer, or the last provisional one when the episode was truncated."""
        given = [a for a in self.answers if a is not None]
        return given[-1] if given else None


def answer_accuracy(
    answer: Answer | None, labels: Labels, alpha: float = PAPER.alpha, overall_only: bool = PAPER.overall_only
) -> float:
    """``alpha * 1[OA] + (1 - alpha) * mean over labelled dimensions``; unlabelled keys are skipped.

    With no labelled dimension the overall term takes the whole weight, and vice versa.
    """
    if answer is None:
        return 0.0
    values = answer.values

    def hit(key: str) -> float:
        return float(values.get(key) == labels.get(key))

    oa_labelled = labels.get("OA") is not None
    dims = [k for k in DIMENSION_KEYS if labels.get(k) is not None]
    if overall_only or not dims:
        return hit("OA") if oa_labelled else 0.0
    dim_score = sum(hit(k) for k in dims) / len(dims)
    if not oa_labelled:
        return dim_score
    return alpha * hit("OA") + (1.0 - alpha) * dim_score


def format_reward(outcome: EpisodeOutcome, weights: RewardWeights) -> float:
    """1 if the episode ended with a final answer and every turn followed the protocol."""
    return float(outcome.finished and bool(outcome.turn_format_ok) and all(outcome.turn_format_ok))


def accuracy_reward(outcome: EpisodeOutcome, weights: RewardWeights) -> float:
    """Accuracy of the scored answer (final, or last provisional if truncated)."""
    return answer_accuracy(outcome.scored_answer, outcome.labels, weights.alpha, weights.overall_only)


def cot_gain_reward(outcome: EpisodeOutcome, weights: RewardWeights) -> float:
    """``k`` times the accuracy gained from the first to the last answer (a telescoping sum)."""
    given = [a for a in outcome.answers if a is not None]
    if len(given) < 2:
        return 0.0
    first = answer_accuracy(given[0], outcome.labels, weights.alpha, weights.overall_only)
    last = answer_accuracy(given[-1], outcome.labels, weights.alpha, weights.overall_only)
    return weights.cot_k * (last - first)


RewardFn = Callable[[EpisodeOutcome, RewardWeights], float]


@dataclass(frozen=True)
class RewardBreakdown:
    """Raw component values, their weights and the weighted total."""

    components: dict[str, float]
    weights: dict[str, float]
    total: float

    def as_dict(self) -> dict[str, float]:
        return {**self.components, "total": self.total}


@dataclass(frozen=True)
class Rubric:
    """Named reward functions with weights. ``score`` reports every component."""

    weights: RewardWeights = field(default_factory=RewardWeights)
    functions: tuple[tuple[str, RewardFn], ...] = (
        ("format", format_reward),
        ("accuracy", accuracy_reward),
        ("cot_gain", cot_gain_reward),
    )

    def weight(self, name: str) -> float:
        return float(getattr(self.weights, name))

    def score(self, outcome: EpisodeOutcome) -> RewardBreakdown:
        components = {name: float(fn(outcome, self.weights)) for name, fn in self.functions}
        weights = {name: self.weight(name) for name in components}
        total = float(sum(weights[n] * v for n, v in components.items()))
        return RewardBreakdown(components=components, weights=weights, total=total)


def exploration_bonus(
    used_tool: Sequence[bool], omega: float = PAPER.exploration_omega, eta: float = PAPER.exploration_eta
) -> np.ndarray:
    """Group-level exploration term ``eta * max(omega - R, 0) * 1[used tool]`` for G trajectories.

    ``R`` is the fraction of the group's trajectories that used a tool. Add it to each trajectory's
    episode reward before computing group-normalized advantages.
    """
    used = np.asarray(used_tool, dtype=bool)
    if used.size == 0:
        return np.zeros(0)
    rate = float(used.mean())
    return eta * max(omega - rate, 0.0) * used.astype(float)


def group_advantages(rewards: Sequence[float], eps: float = 1e-6) -> np.ndarray:
    """GRPO advantages ``(s - mean) / std`` within one group (zeros when all rewards are equal)."""
    r = np.asarray(rewards, dtype=float)
    std = r.std()
    return np.zeros_like(r) if std < eps else (r - r.mean()) / std
