"""Scores per video of a GRPO group, from pairwise judgements that a position bias cannot steer.

The schedule (:mod:`agents.judge.schemes`) shows every video first as often as second. Then:

- ``round_robin`` and ``sparse``: a Bradley-Terry fit with an order effect
  (:mod:`agents.judge.bradley_terry`); a video's score is its fitted probability of beating the
  group's other videos with no position effect (a win rate on ``[0, 1]``, mean 1/2);
- ``anchor``: a video's score is its mean credit against the reference videos (1 win, 1/2 tie, 0
  loss, from the video's side), the orders balanced: comparable across groups and training steps.

A judge that always prefers one position thus gives every video the same score. Each group reports
``first_position_share`` (share of its scorable single-order comparisons won by the first video,
ties 1/2; 0.5 is no bias) and, for the fitted modes, ``order_effect`` (the fitted log-odds ``h``);
both are logged at INFO. ``dimensions`` holds scores for TA, VQ, MQ and OA from the same comparisons
(``scores`` is OA). ``soft=True`` uses the OA preference probability where the judge gives one. A
video with no scorable comparison gets ``None`` and the reasons, never a made-up number.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from agents.judge.bradley_terry import fit
from agents.judge.judge import Comparison, Judge
from agents.judge.schemes import DEFAULT_K, MODES, schedule
from agents.judge.verdict import Verdict
from vr_env.data.inmemory import VideoLike
from vr_env.protocol.labels import LABEL_KEYS

__all__ = ["MODES", "GroupScores", "group_plan", "score_group", "score_groups", "summarize"]

logger = logging.getLogger(__name__)
_CREDIT = {1: 1.0, 0: 0.5, 2: 0.0}


@dataclass
class GroupScores:
    """Scores of one group, the comparisons behind them and what they cost.

    ``pairs[k] = (first, second)``: ``verdicts[k]`` judged that ordered pair (negative ``-1 - r``:
    reference video ``r``). ``dimensions``: ``{"TA", "VQ", "MQ", "OA"} -> scores``. ``judge_calls``:
    episodes played for this group; ``generate_calls``: generation batches of the whole run (shared
    by groups judged together); ``seconds``: wall time of the run, split by comparisons.
    """

    scores: list[float | None]
    mode: str
    pairs: list[tuple[int, int]]
    verdicts: list[Verdict]
    judge_calls: int = 0
    generate_calls: int = 0
    seconds: float = 0.0
    unscorable: dict[int, list[str]] = field(default_factory=dict)
    dimensions: dict[str, list[float | None]] = field(default_factory=dict)
    first_position_share: float | None = None
    order_effect: float | None = None
    orders: str = "balanced"

    def to_dict(self, trace: bool = False) -> dict[str, Any]:
        return {
            "scores": self.scores,
            "dimensions": self.dimensions,
            "mode": self.mode,
            "orders": self.orders,
            "pairs": [list(p) for p in self.pairs],
            "verdicts": [v.to_dict(trace=trace) for v in self.verdicts],
            "judge_calls": self.judge_calls,
            "generate_calls": self.generate_calls,
            "seconds": self.seconds,
            "unscorable": {str(k): v for k, v in self.unscorable.items()},
            "first_position_share": self.first_position_share,
            "order_effect": self.order_effect,
        }


def credit(verdict: Verdict, key: str = "OA", soft: bool = False) -> float | None:
    """Credit of the FIRST video of a single-order verdict: 1 win, 1/2 tie, 0 loss (``soft``: OA probability)."""
    if not verdict.ok or verdict.winners is None:
        return None
    if soft and key == "OA" and verdict.preference is not None:
        return verdict.preference
    return _CREDIT[int(verdict.winners.get(key, 0))]


def single_orders(pairs: Sequence[tuple[int, int]], verdicts: Sequence[Verdict]) -> list[tuple[int, int, Verdict]]:
    """``(first, second, single-order verdict)``: a scorable both-orders verdict counts as its two orders."""
    out: list[tuple[int, int, Verdict]] = []
    for (i, j), verdict in zip(pairs, verdicts, strict=True):
        if verdict.ok and len(verdict.orders) == 2:
            out += [(i, j, verdict.orders[0]), (j, i, verdict.orders[1])]
        else:
            out.append((i, j, verdict))
    return out


def _fitted(n: int, observed: list[tuple[int, int, float]]) -> tuple[list[float | None], float | None]:
    """Bradley-Terry win rates of the videos that have a scorable comparison; the order effect."""
    seen = sorted({v for a, b, _ in observed for v in (a, b)})
    if not seen:
        return [None] * n, None
    where = {v: k for k, v in enumerate(seen)}
    result = fit(len(seen), [(where[a], where[b], c) for a, b, c in observed])
    scores: list[float | None] = [None] * n
    for video, rate in zip(seen, result.win_rates(), strict=True):
        scores[video] = rate
    return scores, result.order_effect


def _against_references(n: int, observed: list[tuple[int, int, float]]) -> list[float | None]:
    credits: list[list[float]] = [[] for _ in range(n)]
    for a, b, c in observed:
        if a >= 0:
            credits[a].append(c)
        if b >= 0:
            credits[b].append(1.0 - c)
    return [sum(c) / len(c) if c else None for c in credits]


def summarize(
    n: int,
    mode: str,
    pairs: Sequence[tuple[int, int]],
    verdicts: Sequence[Verdict],
    *,
    soft: bool = False,
    anchor: int | None = None,
    orders: str = "balanced",
) -> GroupScores:
    """Scores (every dimension), bias and unscorable reasons of one group from its verdicts (no cost fields)."""
    singles = single_orders(pairs, verdicts)
    problems: dict[int, list[str]] = {}
    for (i, j), verdict in zip(pairs, verdicts, strict=True):
        if verdict.ok:
            continue
        for video, other in ((i, j), (j, i)):
            if video >= 0:
                name = f"video {other}" if other >= 0 else f"reference {-1 - other}"
                problems.setdefault(video, []).append(f"vs {name}: {verdict.reason}")
    dimensions: dict[str, list[float | None]] = {}
    order_effect: float | None = None
    for key in LABEL_KEYS:
        observed = [(a, b, c) for a, b, v in singles if (c := credit(v, key, soft)) is not None]
        if mode == "anchor":
            values = _against_references(n, observed)
            if anchor is not None:
                values[anchor] = 0.5
        else:
            values, effect = _fitted(n, observed)
            if key == "OA":
                order_effect = effect
        dimensions[key] = values
    hard = [c for _, _, v in singles if (c := credit(v, "OA")) is not None]
    share = sum(hard) / len(hard) if hard else None
    scores = dimensions["OA"]
    return GroupScores(
        scores=scores,
        mode=mode,
        pairs=list(pairs),
        verdicts=list(verdicts),
        unscorable=problems,
        dimensions=dimensions,
        first_position_share=share,
        order_effect=order_effect,
        orders=orders,
    )


def group_plan(
    n: int, mode: str, anchor: Any = None, *, orders: str = "balanced", k: int = DEFAULT_K
) -> tuple[list[tuple[int, int]], int | None, list[Any]]:
    """``(ordered pairs, in-group anchor index, reference videos)`` of a group of ``n``.

    ``anchor``: an index into the group, one outside video, a list of outside videos, or ``None``.
    """
    in_group = anchor if isinstance(anchor, int) and not isinstance(anchor, bool) else None
    references: list[Any] = []
    if mode == "anchor" and in_group is None:
        if anchor is None:
            raise ValueError("anchor mode needs an anchor (an index into the group, a video or a list of videos)")
        references = list(anchor) if isinstance(anchor, (list, tuple)) else [anchor]
    pairs = schedule(n, mode, orders=orders, k=k, references=len(references), anchor=in_group)
    return pairs, in_group if mode == "anchor" else None, references


def _log(g: int, result: GroupScores) -> None:
    logger.info(
        "group %d (%s, %d videos): first-position share %s, order effect %s, %d unscorable",
        g,
        result.mode,
        len(result.scores),
        "n/a" if result.first_position_share is None else f"{result.first_position_share:.3f}",
        "n/a" if result.order_effect is None else f"{result.order_effect:+.3f}",
        sum(s is None for s in result.scores),
    )


def score_groups(
    judge: Judge,
    groups: Sequence[tuple[str, Sequence[VideoLike]]],
    *,
    mode: str = "round_robin",
    anchors: Sequence[Any] | None = None,
    soft: bool = False,
    both_orders: bool | None = None,
    orders: str = "balanced",
    k: int = DEFAULT_K,
) -> list[GroupScores]:
    """Score several groups ``(prompt, videos)`` with ONE batched judge run over all their comparisons.

    ``anchors[g]`` (anchor mode): an index into group ``g``, an outside video, or a list of them.
    ``both_orders`` (default: the judge's setting) also judges every scheduled pair swapped.
    """
    start = time.perf_counter()
    plans: list[tuple[list[tuple[int, int]], int | None, int]] = []
    comparisons: list[Comparison] = []
    for g, (prompt, videos) in enumerate(groups):
        try:
            pairs, in_group, references = group_plan(
                len(videos), mode, None if anchors is None else anchors[g], orders=orders, k=k
            )
        except ValueError as error:
            raise ValueError(f"group {g}: {error}") from None
        for i, j in pairs:
            first = videos[i] if i >= 0 else references[-1 - i]
            second = videos[j] if j >= 0 else references[-1 - j]
            comparisons.append(Comparison(first, second, prompt))
        plans.append((pairs, in_group, len(videos)))
    run = judge.run(comparisons, both_orders=both_orders)
    both = judge.config.both_orders if both_orders is None else both_orders
    out: list[GroupScores] = []
    offset = 0
    total = max(len(comparisons), 1)
    for g, (pairs, in_group, n) in enumerate(plans):
        verdicts = run.verdicts[offset : offset + len(pairs)]
        offset += len(pairs)
        result = summarize(n, mode, pairs, verdicts, soft=soft, anchor=in_group, orders=orders)
        result.judge_calls = len(pairs) * (2 if both else 1)
        result.generate_calls = run.generate_calls
        result.seconds = (time.perf_counter() - start) * len(pairs) / total
        _log(g, result)
        out.append(result)
    return out


def score_group(
    judge: Judge,
    prompt: str,
    videos: Sequence[VideoLike],
    *,
    mode: str = "round_robin",
    anchor: Any = None,
    soft: bool = False,
    both_orders: bool | None = None,
    orders: str = "balanced",
    k: int = DEFAULT_K,
) -> GroupScores:
    """One scalar per video of one group (see the module docstring); calls, time and bias reported."""
    return score_groups(
        judge, [(prompt, videos)], mode=mode, anchors=[anchor], soft=soft, both_orders=both_orders, orders=orders, k=k
    )[0]
