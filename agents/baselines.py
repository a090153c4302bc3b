"""Scripted baseline judges: :class:`RandomAgent`, :class:`AnswerNowAgent` and :class:`ScannerAgent`.

They read only observations (frames, frame ids and text), never labels or ``record.meta``:

- ``RandomAgent``: a uniformly random final answer at once, no tool (seeded).
- ``AnswerNowAgent``: judges from the initial frames with the frame statistics below, no tool.
- ``ScannerAgent``: spends every tool call fetching frames that fill the gaps between the initial
  frames, at the same positions in BOTH videos, keeps notes of every frame it saw (older tool images
  leave the memory window), then judges each dimension from simple frame statistics.

Frame statistics (:func:`frame_stats`): noise (median absolute Laplacian), sharpness (steepest edge
over contrast), blockiness (gradient energy on 8-pixel block boundaries), the object's colour,
area, box fill and centroid (pixels far from the border colour). Per video (:func:`analyse_video`):
a frame with a quality anomaly flags VQ; a frame whose object colour or shape departs from the
video's usual one flags TA; on the remaining frames, a centroid off the motion lane flags MQ
(jitter, jump), a backward step along the motion flags TA (wrong direction) and a frame that lags
the line fitted through the motion (or repeats its neighbour) flags MQ (freeze). A dimension goes to
the video without a flag (a tie when both or neither have one); OA goes to the video winning more
dimensions. Thresholds (:class:`Thresholds`) suit the synthetic benchmark's clips
(``vr_env/data/synthetic_render.py``); on real videos these agents are reference points only.

>>> agent = RandomAgent(seed=0)
>>> agent.act({"text": ""}, {}).startswith("<Snapshot>")
True
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vr_env.data.records import DIMENSION_KEYS, LABEL_KEYS
from vr_env.protocol.parsing import TOOL_ARGUMENT, TOOL_NAME

Labels = dict[str, int]

# ---------------------------------------------------------------------------------------- protocol


def answer_text(values: Mapping[str, int], confidence: int | None = None) -> str:
    """``TA=1, VQ=0, MQ=2, OA=1`` (with ``, CF=c`` for a provisional answer)."""
    body = ", ".join(f"{k}={int(values[k])}" for k in LABEL_KEYS)
    return body + (f", CF={confidence}" if confidence is not None else "")


def tool_turn(snapshot: str, think: str, values: Mapping[str, int], confidence: int, frames: Sequence[int]) -> str:
    """A well-formed turn: snapshot, reasoning, provisional answer with confidence, one tool call."""
    call = json.dumps({"name": TOOL_NAME, "arguments": {TOOL_ARGUMENT: [int(f) for f in frames]}})
    return (
        f"<Snapshot>{snapshot}</Snapshot>\n<Think>{think}</Think>\n"
        f"<Recommend Answer>{answer_text(values, confidence)}</Recommend Answer>\n<tool_call>{call}</tool_call>"
    )


def final_turn(snapshot: str, think: str, values: Mapping[str, int]) -> str:
    """A well-formed final turn."""
    return f"<Snapshot>{snapshot}</Snapshot>\n<Think>{think}</Think>\n<Answer>{answer_text(values)}</Answer>"


@dataclass(frozen=True)
class ProtocolFacts:
    """Numbers of the episode, read from the first observation's text (the system prompt)."""

    frames_per_video: int = 48
    initial_frames: int = 8
    max_tool_calls: int = 3
    max_frames_per_call: int = 8

    @classmethod
    def from_text(cls, text: str, default: ProtocolFacts | None = None) -> ProtocolFacts:
        base = default or cls()

        def grab(pattern: str, fallback: int) -> int:
            match = re.search(pattern, text)
            return int(match.group(1)) if match else fallback

        return cls(
            frames_per_video=grab(r"sampled to (\d+) frames", base.frames_per_video),
            initial_frames=grab(r"You start with (\d+) frames", base.initial_frames),
            max_tool_calls=grab(r"call the tool at most (\d+) times", base.max_tool_calls),
            max_frames_per_call=grab(r"at most (\d+) frames per call", base.max_frames_per_call),
        )

    def locate(self, frame_id: int) -> tuple[int, int]:
        """``(video, 0-based position)`` of a 1-based frame id."""
        f = self.frames_per_video
        return (1, frame_id - 1) if frame_id <= f else (2, frame_id - f - 1)

    def frame_id(self, video: int, position: int) -> int:
        return position + 1 + (video - 1) * self.frames_per_video


def visible_frames(observation: Mapping[str, Any]) -> list[tuple[int, np.ndarray]]:
    """``(frame_id, image)`` of every visible frame in an observation."""
    frames, ids, mask = observation.get("frames"), observation.get("frame_ids"), observation.get("frame_mask")
    if frames is None or ids is None or mask is None:
        return []
    return [(int(ids[k]), np.asarray(frames[k])) for k in range(len(ids)) if mask[k] and ids[k] > 0]


# ---------------------------------------------------------------------------------------- statistics


@dataclass(frozen=True)
class FrameStats:
    """Simple statistics of one frame (see the module docstring)."""

    noise: float
    sharpness: float
    blockiness: float
    contrast: float
    colour: tuple[float, float, float] | None
    area: float
    fill: float
    centroid: tuple[float, float] | None


def _box_blur(image: np.ndarray, radius: int) -> np.ndarray:
    """Mean over a ``(2r+1)^2`` window (edge padded), per channel."""
    size = 2 * radius + 1
    padded = np.pad(image, ((radius, radius), (radius, radius), (0, 0)), mode="edge")
    c = np.cumsum(np.cumsum(padded, axis=0, dtype=np.float64), axis=1)
    c = np.pad(c, ((1, 0), (1, 0), (0, 0)))
    total = c[size:, size:] - c[:-size, size:] - c[size:, :-size] + c[:-size, :-size]
    return (total / (size * size)).astype(np.float32)


def frame_stats(image: np.ndarray, block: int = 8) -> FrameStats:
    """Statistics of one uint8 ``(H, W, 3)`` frame."""
    img = np.asarray(image, dtype=np.float32)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    h, w = img.shape[:2]
    grey = img.mean(axis=2)
    lap = 4 * grey[1:-1, 1:-1] - grey[:-2, 1:-1] - grey[2:, 1:-1] - grey[1:-1, :-2] - grey[1:-1, 2:]
    noise = float(np.median(np.abs(lap))) if lap.size else 0.0

    border = np.concatenate([img[0], img[-1], img[:, 0], img[:, -1]])
    background = np.median(border, axis=0)
    smooth = _box_blur(img, 2)
    distance = np.abs(smooth - background).max(axis=2)
    contrast = float(np.percentile(distance, 99.8))

    dx = np.abs(np.diff(img, axis=1)).max(axis=2)
    dy = np.abs(np.diff(img, axis=0)).max(axis=2)
    steepest = max(float(dx.max(initial=0.0)), float(dy.max(initial=0.0)))
    sharpness = steepest / contrast if contrast > 1e-6 else 0.0
    gdx, gdy = np.abs(np.diff(grey, axis=1)), np.abs(np.diff(grey, axis=0))
    on_x = (np.arange(w - 1) + 1) % block == 0
    on_y = (np.arange(h - 1) + 1) % block == 0
    energy = float(gdx.sum() + gdy.sum())
    blockiness = float(gdx[:, on_x].sum() + gdy[on_y, :].sum()) / energy if energy > 1e-6 else 0.0

    colour: tuple[float, float, float] | None = None
    centroid: tuple[float, float] | None = None
    area = fill = 0.0
    if contrast >= 25.0:
        mask = distance > 0.5 * contrast
        core = distance > 0.8 * contrast
        area = float(mask.sum())
        if area > 0:
            ys, xs = np.nonzero(mask)
            fill = area / float((ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1))
            centroid = (float(xs.mean()) + 0.5, float(ys.mean()) + 0.5)
            colour = tuple(float(v) for v in np.median(img[core], axis=0))  # type: ignore[assignment]
    return FrameStats(noise, sharpness, blockiness, contrast, colour, area, fill, centroid)


# ---------------------------------------------------------------------------------------- judging


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
    margin = sum(v == 1 for v in labels.values()) - sum(v == 2 for v in labels.values())
    labels["OA"] = 0 if margin == 0 else (1 if margin > 0 else 2)
    return labels


# ---------------------------------------------------------------------------------------- planning


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


# ---------------------------------------------------------------------------------------- agents


class RandomAgent:
    """A uniformly random final answer (values 0, 1, 2 per key) at the first turn; no tool."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = int(seed)
        self.rng = np.random.default_rng(self.seed)

    def reset(self, seed: int | None = None) -> None:
        """Start an episode; a ``seed`` reseeds from ``(self.seed, seed)`` (order-independent runs)."""
        if seed is not None:
            self.rng = np.random.default_rng((self.seed, int(seed)))

    def act(self, observation: Mapping[str, Any], info: Mapping[str, Any]) -> str:
        values = {k: int(v) for k, v in zip(LABEL_KEYS, self.rng.integers(0, 3, size=len(LABEL_KEYS)), strict=True)}
        return final_turn("No frames inspected.", "A random guess.", values)


class _StatsJudge:
    """Shared machinery: notes of every frame seen (statistics by frame id) and the judgement."""

    def __init__(self, thresholds: Thresholds | None = None, facts: ProtocolFacts | None = None) -> None:
        self.thresholds = thresholds or Thresholds()
        self.default_facts = facts or ProtocolFacts()
        self.facts = self.default_facts
        self.notes: dict[int, FrameStats] = {}
        self.turn = 0

    def reset(self, seed: int | None = None) -> None:
        self.facts = self.default_facts
        self.notes = {}
        self.turn = 0

    def _observe(self, observation: Mapping[str, Any]) -> list[int]:
        if self.turn == 0:
            self.facts = ProtocolFacts.from_text(str(observation.get("text", "")), self.default_facts)
        new = []
        for frame_id, image in visible_frames(observation):
            if frame_id not in self.notes:
                self.notes[frame_id] = frame_stats(image)
                new.append(frame_id)
        self.turn += 1
        return new

    def _findings(self) -> tuple[VideoFindings, VideoFindings]:
        per_video: dict[int, dict[int, FrameStats]] = {1: {}, 2: {}}
        for frame_id, stats in self.notes.items():
            video, position = self.facts.locate(frame_id)
            per_video[video][position] = stats
        return analyse_video(per_video[1], self.thresholds), analyse_video(per_video[2], self.thresholds)

    def _judge(self) -> tuple[Labels, str, str]:
        f1, f2 = self._findings()
        labels = compare(f1, f2)
        snapshot = f"{f1.describe(1)}. {f2.describe(2)}."
        reasons = []
        for dim in DIMENSION_KEYS:
            verdict = {0: "tie", 1: "video 1", 2: "video 2"}[labels[dim]]
            reasons.append(f"{dim}: {verdict}")
        seen = sorted(self.notes)
        think = (
            f"Seen {len(seen)} frames. Anomalies decide each dimension: "
            + "; ".join(reasons)
            + f". Overall goes to the video winning more dimensions: OA={labels['OA']}."
        )
        return labels, snapshot, think


class AnswerNowAgent(_StatsJudge):
    """Judges at once from the initial frames with the frame statistics; no tool."""

    def act(self, observation: Mapping[str, Any], info: Mapping[str, Any]) -> str:
        self._observe(observation)
        labels, snapshot, think = self._judge()
        return final_turn(snapshot, think, labels)


class ScannerAgent(_StatsJudge):
    """Fetches frames filling the gaps between the initial ones (same positions in both videos), with
    every tool call, then judges from its notes of all the frames it saw."""

    def __init__(self, seed: int = 0, thresholds: Thresholds | None = None, facts: ProtocolFacts | None = None):
        super().__init__(thresholds, facts)
        self.seed = int(seed)
        self.plan: list[list[int]] = []
        self.calls = 0

    def reset(self, seed: int | None = None) -> None:
        super().reset(seed)
        self.plan = []
        self.calls = 0

    def _make_plan(self) -> list[list[int]]:
        facts = self.facts
        per_call = max(1, facts.max_frames_per_call // 2)
        seen = [facts.locate(fid)[1] for fid in self.notes]
        positions = gap_filling_positions(seen, facts.frames_per_video, per_call * facts.max_tool_calls)
        calls = []
        for k in range(0, len(positions), per_call):
            chunk = sorted(positions[k : k + per_call])
            calls.append([facts.frame_id(1, p) for p in chunk] + [facts.frame_id(2, p) for p in chunk])
        return calls

    def act(self, observation: Mapping[str, Any], info: Mapping[str, Any]) -> str:
        first = self.turn == 0
        self._observe(observation)
        if first:
            self.plan = self._make_plan()
        labels, snapshot, think = self._judge()
        text = str(observation.get("text", ""))
        out_of_calls = "No tool calls left" in text or text.startswith("Error")
        if self.calls < len(self.plan) and not out_of_calls:
            frames = self.plan[self.calls]
            self.calls += 1
            confidence = 3 if self.calls == 1 else 2
            think += f" Next I fetch frames {frames[: len(frames) // 2]} and their matches in video 2."
            return tool_turn(snapshot, think, labels, confidence, frames)
        return final_turn(snapshot, think, labels)
