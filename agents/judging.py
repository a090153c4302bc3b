"""Judging rules of the scripted judges: anomalies per video from frame statistics, a verdict per
dimension, and where to look next.

Per video (:func:`analyse_video`): a frame with a quality anomaly flags VQ; a frame whose object
colour or shape departs from the video's usual one flags TA; on the remaining frames, a centroid off
the motion lane flags MQ (jitter, jump), a backward step along the motion flags TA (wrong direction)
and a frame that lags the line fitted through the motion (or repeats its neighbour) flags MQ
(freeze). A dimension goes to the video without a flag (a tie when both or neither have one); OA
follows the protocol's majority rule (:func:`vr_env.protocol.labels.overall_from_dimensions`).
Thresholds (:class:`Thresholds`) suit the synthetic benchmark's clips.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from agents.frame_stats import FrameStats
from vr_env.protocol.labels import DIMENSION_KEYS, overall_from_dimensions

Labels = dict[str, int]


@dataclass(frozen=True)
class Thresholds:
    """Decision thresholds of :func:`analyse_video` (pixels for the motion rules)."""

    noise: float = 8.0
    sharpness: float = 0.4
    blockiness: float = 0.6
    colour: float = 45.0
    fill: float = 0.12
    area_ratio: float = 1.25
    lane: float = 2.0
    backward: float = 1.5
    lag: float = 2.0
    still: float = 0.3


@dataclass
class VideoFindings:
    """Anomalies found in one video: per dimension, ``(position, kind)`` pairs."""

    flags: dict[str, list[tuple[int, str]]] = field(default_factory=lambda: {d: [] for d in DIMENSION_KEYS})

    def add(self, dim: str, position: int, kind: str) -> None:
        self.flags[dim].append((position, kind))

    def has(self, dim: str) -> bool:
        return bool(self.flags[dim])

    def describe(self, video: int) -> str:
        parts = [f"#{p + 1} {kind}" for d in DIMENSION_KEYS for p, kind in sorted(self.flags[d])]
        return f"V{video}: " + (", ".join(parts) if parts else "nothing wrong seen")


def _theil_sen(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Robust line ``y = a + b x`` (median of pairwise slopes)."""
    i, j = np.triu_indices(len(x), k=1)
    keep = x[j] != x[i]
    slope = float(np.median((y[j] - y[i])[keep] / (x[j] - x[i])[keep])) if keep.any() else 0.0
    return float(np.median(y - slope * x)), slope


def analyse_video(stats: Mapping[int, FrameStats], limits: Thresholds | None = None) -> VideoFindings:
    """Anomalies of one video from the statistics of its seen frames, keyed by 0-based position."""
    t = limits or Thresholds()
    found = VideoFindings()
    clean: dict[int, FrameStats] = {}
    for pos, s in sorted(stats.items()):
        if s.noise > t.noise:
            found.add("VQ", pos, "noise")
        elif s.blockiness > t.blockiness:
            found.add("VQ", pos, "blocking")
        elif s.colour is not None and s.sharpness < t.sharpness:
            found.add("VQ", pos, "blur")
        elif s.centroid is not None and s.colour is not None:
            clean[pos] = s
    if len(clean) >= 3:
        colours = np.array([s.colour for s in clean.values()])
        usual_colour = np.median(colours, axis=0)
        usual_fill = float(np.median([s.fill for s in clean.values()]))
        usual_area = float(np.median([s.area for s in clean.values()]))
        for pos, s in list(clean.items()):
            ratio = s.area / usual_area if usual_area > 0 else 1.0
            if np.abs(np.asarray(s.colour) - usual_colour).max() > t.colour:
                found.add("TA", pos, "colour")
            elif abs(s.fill - usual_fill) > t.fill or not 1 / t.area_ratio <= ratio <= t.area_ratio:
                found.add("TA", pos, "shape")
            else:
                continue
            del clean[pos]
    if len(clean) >= 3:
        _analyse_motion(clean, found, t)
    return found


def _analyse_motion(clean: Mapping[int, FrameStats], found: VideoFindings, t: Thresholds) -> None:
    positions = np.array(sorted(clean), dtype=np.float64)
    xy = np.array([clean[int(p)].centroid for p in positions], dtype=np.float64)
    travel = xy[-1] - xy[0]
    axis = 0 if abs(travel[0]) >= abs(travel[1]) else 1
    sign = 1.0 if travel[axis] >= 0 else -1.0
    along, across = sign * xy[:, axis], xy[:, 1 - axis]
    off_lane = np.abs(across - np.median(across)) > t.lane
    for p, off in zip(positions, off_lane, strict=True):
        if off:
            found.add("MQ", int(p), "off the motion lane")
    keep = ~off_lane
    positions, along = positions[keep], along[keep]
    if len(positions) < 3:
        return
    steps = np.diff(along)
    backward = steps < -t.backward
    for p, back in zip(positions[1:], backward, strict=True):
        if back:
            found.add("TA", int(p), "moves backwards")
    typical = float(np.median(steps / np.diff(positions)))
    still = np.abs(steps) < t.still if typical > 1.0 else np.zeros(len(steps), dtype=bool)
    lagging = np.zeros(len(positions), dtype=bool)
    if not backward.any():  # a reversal shifts the whole line: the global lag test would misfire
        intercept, slope = _theil_sen(positions, along)
        lagging = along - (intercept + slope * positions) < -t.lag
    # Local test: behind the straight line through both neighbours (none of the three next to a
    # backward step, whose frames are all displaced).
    near_reversal = np.zeros(len(positions), dtype=bool)
    near_reversal[1:] |= backward
    near_reversal[:-1] |= backward
    for k in range(1, len(positions) - 1):
        w = (positions[k] - positions[k - 1]) / (positions[k + 1] - positions[k - 1])
        expected = along[k - 1] + w * (along[k + 1] - along[k - 1])
        if not near_reversal[k - 1 : k + 2].any() and expected - along[k] > t.lag:
            lagging[k] = True
    for k, p in enumerate(positions):
        if lagging[k] or (k > 0 and still[k - 1] and not backward.any()):
            found.add("MQ", int(p), "lags (freeze)")


def compare(findings_1: VideoFindings, findings_2: VideoFindings) -> Labels:
    """Per dimension: the video without anomalies wins, a tie otherwise; OA by dimensions won."""
    labels: Labels = {}
    for dim in DIMENSION_KEYS:
        bad_1, bad_2 = findings_1.has(dim), findings_2.has(dim)
        labels[dim] = 0 if bad_1 == bad_2 else (2 if bad_1 else 1)
    labels["OA"] = overall_from_dimensions(labels)
    return labels


def gap_filling_positions(seen: Sequence[int], frames_per_video: int, budget: int) -> list[int]:
    """Up to ``budget`` new positions, each the middle of the widest gap left so far (coarse to fine).

    The ends count as seen positions ``-1`` and ``F``; ties go to the earliest gap.

    >>> gap_filling_positions([6, 18, 30, 42], 48, 4)
    [12, 24, 36, 2]
    """
    taken = sorted(set(int(p) for p in seen if 0 <= p < frames_per_video))
    chosen: list[int] = []
    while len(chosen) < budget:
        marks = [-1, *taken, frames_per_video]
        widths = [b - a for a, b in itertools.pairwise(marks)]
        k = int(np.argmax(widths))
        if widths[k] < 2:
            break
        middle = (marks[k] + marks[k + 1]) // 2
        chosen.append(middle)
        taken = sorted([*taken, middle])
    return chosen
