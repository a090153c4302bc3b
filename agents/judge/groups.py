"""One scalar per video of a GRPO group, from pairwise judgements.

``round_robin`` (Pref-GRPO): all C(N, 2) pairs are judged; a video's score is its win rate over its
scorable comparisons, a tie counting one half. ``anchor``: each video is judged against one
reference video (N comparisons; the anchor may be one of the group, by index, or an outside video);
its score is 1 for a win, 1/2 for a tie, 0 for a loss. ``soft=True`` uses the preference probability
(``p(win) + p(tie) / 2``) instead of the hard outcome where the judge gives one. A video with no
scorable comparison gets ``None`` and the reasons, never a made-up number.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from agents.judge.judge import Comparison, Judge
from agents.judge.verdict import Verdict
from vr_env.data.inmemory import VideoLike

Mode = Literal["round_robin", "anchor"]
MODES: tuple[str, ...] = ("round_robin", "anchor")


@dataclass
class GroupScores:
    """Scores of one group, the comparisons behind them and what they cost.

    ``pairs[k] = (i, j)``: ``verdicts[k]`` judged video ``i`` (first) against ``j`` (``j = -1``: the
    outside anchor). ``judge_calls``: episodes played for this group (comparisons x orders);
    ``generate_calls``: generation batches of the whole run (shared by groups judged together);
    ``seconds``: wall time of the run, split between its groups by their number of comparisons.
    """

    scores: list[float | None]
    mode: str
    pairs: list[tuple[int, int]]
    verdicts: list[Verdict]
    judge_calls: int = 0
    generate_calls: int = 0
    seconds: float = 0.0
    unscorable: dict[int, list[str]] = field(default_factory=dict)

    def to_dict(self, trace: bool = False) -> dict[str, Any]:
        return {
            "scores": self.scores,
            "mode": self.mode,
            "pairs": [list(p) for p in self.pairs],
            "verdicts": [v.to_dict(trace=trace) for v in self.verdicts],
            "judge_calls": self.judge_calls,
            "generate_calls": self.generate_calls,
            "seconds": self.seconds,
            "unscorable": {str(k): v for k, v in self.unscorable.items()},
        }


def group_pairs(n: int, mode: str, anchor: int | None = None) -> list[tuple[int, int]]:
    """The comparisons of a group of ``n``: ``(first, second)`` indices (``-1``: outside anchor).

    >>> group_pairs(3, "round_robin"), group_pairs(3, "anchor", anchor=1), group_pairs(2, "anchor")
    ([(0, 1), (0, 2), (1, 2)], [(0, 1), (2, 1)], [(0, -1), (1, -1)])
    """
    if mode == "round_robin":
        return list(itertools.combinations(range(n), 2))
    if mode == "anchor":
        if anchor is None:
            return [(i, -1) for i in range(n)]
        if not 0 <= anchor < n:
            raise ValueError(f"anchor index {anchor} is outside the group of {n}")
        return [(i, anchor) for i in range(n) if i != anchor]
    raise ValueError(f"unknown group scoring mode {mode!r}; choose one of {MODES}")


def outcome(verdict: Verdict, soft: bool) -> float | None:
    """Credit of the FIRST video of a verdict: 1 win, 1/2 tie, 0 loss (or the probability if ``soft``)."""
    if not verdict.ok:
        return None
    if soft and verdict.preference is not None:
        return verdict.preference
    return {1: 1.0, 0: 0.5, 2: 0.0}[int(verdict.overall or 0)]


def aggregate(
    n: int, pairs: Sequence[tuple[int, int]], verdicts: Sequence[Verdict], soft: bool = False, anchor: int | None = None
) -> tuple[list[float | None], dict[int, list[str]]]:
    """Mean credit of each video over its scorable comparisons; reasons for the unscorable ones.

    In anchor mode with an in-group anchor, the anchor itself scores 1/2 (it ties with itself).
    """
    credits: list[list[float]] = [[] for _ in range(n)]
    problems: dict[int, list[str]] = {}
    for (i, j), verdict in zip(pairs, verdicts, strict=True):
        credit = outcome(verdict, soft)
        for video in (i, j):
            if video < 0:
                continue
            if credit is None:
                other = "the anchor" if j < 0 else f"video {j if video == i else i}"
                problems.setdefault(video, []).append(f"vs {other}: {verdict.reason}")
            else:
                credits[video].append(credit if video == i else 1.0 - credit)
    if anchor is not None:
        credits[anchor] = [0.5]
    scores = [sum(c) / len(c) if c else None for c in credits]
    return scores, problems


def score_groups(
    judge: Judge,
    groups: Sequence[tuple[str, Sequence[VideoLike]]],
    *,
    mode: str = "round_robin",
    anchors: Sequence[VideoLike | int | None] | None = None,
    soft: bool = False,
    both_orders: bool | None = None,
) -> list[GroupScores]:
    """Score several groups ``(prompt, videos)`` with ONE batched judge run over all their comparisons.

    ``anchors[g]``: an index into group g, an outside video, or ``None`` (round-robin mode ignores it).
    """
    start = time.perf_counter()
    plans: list[tuple[list[tuple[int, int]], int | None, int]] = []
    comparisons: list[Comparison] = []
    for g, (prompt, videos) in enumerate(groups):
        anchor = None if anchors is None else anchors[g]
        in_group = anchor if isinstance(anchor, int) and not isinstance(anchor, bool) else None
        if mode == "anchor" and anchor is None:
            raise ValueError(f"group {g}: anchor mode needs an anchor (an index into the group or a video)")
        needed = 1 if mode == "anchor" and in_group is None else 2
        if len(videos) < needed:
            raise ValueError(f"group {g} has {len(videos)} video(s); {mode} scoring needs at least {needed}")
        pairs = group_pairs(len(videos), mode, in_group)
        for i, j in pairs:
            second = videos[j] if j >= 0 else anchor
            comparisons.append(Comparison(videos[i], second, prompt))  # type: ignore[arg-type]
        plans.append((pairs, in_group, len(videos)))
    run = judge.run(comparisons, both_orders=both_orders)
    both = judge.config.both_orders if both_orders is None else both_orders
    out: list[GroupScores] = []
    offset = 0
    total = max(len(comparisons), 1)
    for pairs, in_group, n in plans:
        verdicts = run.verdicts[offset : offset + len(pairs)]
        offset += len(pairs)
        scores, problems = aggregate(n, pairs, verdicts, soft, in_group if mode == "anchor" else None)
        share = len(pairs) / total
        out.append(
            GroupScores(
                scores=scores,
                mode=mode,
                pairs=pairs,
                verdicts=verdicts,
                judge_calls=len(pairs) * (2 if both else 1),
                generate_calls=run.generate_calls,
                seconds=(time.perf_counter() - start) * share,
                unscorable=problems,
            )
        )
    return out


def score_group(
    judge: Judge,
    prompt: str,
    videos: Sequence[VideoLike],
    *,
    mode: str = "round_robin",
    anchor: VideoLike | int | None = None,
    soft: bool = False,
    both_orders: bool | None = None,
) -> GroupScores:
    """One scalar per video of one group (see the module docstring); calls and time reported."""
    return score_groups(judge, [(prompt, videos)], mode=mode, anchors=[anchor], soft=soft, both_orders=both_orders)[0]
