"""A judge stand-in for fast tests of group scoring, adapters and the server: verdicts by rule."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from agents.judge.config import JudgeConfig
from agents.judge.judge import Comparison, JudgeRun
from agents.judge.verdict import Verdict
from vr_env.video.ref import VideoRef

LABELS = ("TA", "VQ", "MQ", "OA")


def quality(video: Any) -> float:
    """A video's hidden quality: the mean of its frames (arrays) or the number in its file name."""
    if isinstance(video, VideoRef):
        if video.clip is not None:
            return float(np.mean(video.clip.frames))  # type: ignore[attr-defined]
        video = video.path
    if isinstance(video, np.ndarray):
        return float(np.mean(video))
    digits = "".join(ch for ch in Path(str(video)).stem if ch.isdigit())
    return float(digits or 0)


def by_quality(comparison: Comparison) -> Verdict:
    """The better video wins; equal quality ties; a quality of 13 is unscorable."""
    qa, qb = quality(comparison.video_a), quality(comparison.video_b)
    if 13.0 in (qa, qb):
        return Verdict.unscorable("no valid answer within the turn limit (4 turns)")
    winner = 0 if qa == qb else (1 if qa > qb else 2)
    p1 = 0.8 if winner == 1 else 0.1
    p2 = 0.8 if winner == 2 else 0.1
    dist = {0: 1.0 - p1 - p2, 1: p1, 2: p2}
    return Verdict(status="ok", winners={k: winner for k in LABELS}, distribution=dist, turns=1)


class StubJudge:
    """Implements what group scoring, adapters and the server use: ``run``, ``config``, ``settings_key``."""

    def __init__(self, rule: Callable[[Comparison], Verdict] = by_quality, delay: float = 0.0) -> None:
        self.rule = rule
        self.delay = delay
        self.config = JudgeConfig()
        self.model_id = "stub"
        self.batches: list[list[Comparison]] = []
        self.lock = threading.Lock()

    def settings_key(self) -> str:
        return "stub-settings"

    def run(self, comparisons: Sequence[Comparison], *, both_orders: bool | None = None) -> JudgeRun:
        with self.lock:
            self.batches.append(list(comparisons))
        if self.delay:
            time.sleep(self.delay)
        verdicts = []
        for c in comparisons:
            forward = self.rule(c)
            if both_orders:
                from agents.judge.verdict import combine_orders

                forward = combine_orders(forward, self.rule(Comparison(c.video_b, c.video_a, c.prompt)))
            verdicts.append(forward)
        n = len(comparisons) * (2 if both_orders else 1)
        return JudgeRun(verdicts=verdicts, episodes=n, generate_calls=1, seconds=self.delay)


def constant(first_wins: bool = True) -> Callable[[Comparison], Verdict]:
    """A judge that always prefers one position (the extreme position bias), in every dimension."""
    label = 1 if first_wins else 2
    return lambda comparison: Verdict(status="ok", winners=dict.fromkeys(LABELS, label), turns=1)


def close_calls_go_first(comparison: Comparison) -> Verdict:
    """Position-biased: the better video wins by a margin of 3 or more, otherwise the first one wins.
    MQ goes the other way (the worse video wins), so dimensions differ; 13 is unscorable."""
    qa, qb = quality(comparison.video_a), quality(comparison.video_b)
    if 13.0 in (qa, qb):
        return Verdict.unscorable("unreadable video: broken")
    winner = (1 if qa > qb else 2) if abs(qa - qb) >= 3 else 1
    return Verdict(status="ok", winners={"TA": winner, "VQ": winner, "MQ": 3 - winner, "OA": winner}, turns=1)
