"""Scripted baseline judges: :class:`RandomAgent`, :class:`AnswerNowAgent` and :class:`ScannerAgent`.

They read only observations and the protocol's numbers (``info["protocol"]``, a
:class:`~vr_env.protocol.frames.ProtocolSpec`), never labels or ``record.meta``:

- ``RandomAgent``: a uniformly random final answer at once, no tool (seeded).
- ``AnswerNowAgent``: judges from the initial frames with frame statistics
  (:mod:`agents.frame_stats`) and the judging rules (:mod:`agents.judging`), no tool.
- ``ScannerAgent``: spends every tool call fetching frames that fill the gaps between the initial
  frames, at the same positions in BOTH videos, keeps notes of every frame it saw (older tool images
  leave the memory window), then judges each dimension from its notes.

On real videos these agents are reference points only: the thresholds suit the synthetic clips.

>>> agent = RandomAgent(seed=0)
>>> agent.act({"text": ""}, {}).startswith("<Snapshot>")
True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from agents.frame_stats import FrameStats, frame_stats, visible_frames
from agents.judging import Labels, Thresholds, VideoFindings, analyse_video, compare, gap_filling_positions
from vr_env.protocol.frames import ProtocolSpec
from vr_env.protocol.labels import DIMENSION_KEYS, LABEL_KEYS
from vr_env.protocol.writers import final_turn, tool_turn

__all__ = ["AnswerNowAgent", "RandomAgent", "ScannerAgent", "protocol_of"]


def protocol_of(info: Mapping[str, Any], default: ProtocolSpec | None = None) -> ProtocolSpec:
    """The episode's :class:`ProtocolSpec` from ``info["protocol"]`` (or ``default``); a clear error without."""
    spec = info.get("protocol", default)
    if not isinstance(spec, ProtocolSpec):
        raise ValueError(
            "this agent needs the protocol's numbers: run it in VRJudgeEnv (info['protocol']) "
            "or pass protocol=ProtocolSpec(...) to its constructor"
        )
    return spec


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

    def __init__(self, thresholds: Thresholds | None = None, protocol: ProtocolSpec | None = None) -> None:
        self.thresholds = thresholds or Thresholds()
        self.default_protocol = protocol
        self.protocol = protocol or ProtocolSpec()
        self.notes: dict[int, FrameStats] = {}
        self.turn = 0

    def reset(self, seed: int | None = None) -> None:
        self.notes = {}
        self.turn = 0

    def _observe(self, observation: Mapping[str, Any], info: Mapping[str, Any]) -> list[int]:
        if self.turn == 0:
            self.protocol = protocol_of(info, self.default_protocol)
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
            video, position = self.protocol.locate(frame_id)
            per_video[video][position] = stats
        return analyse_video(per_video[1], self.thresholds), analyse_video(per_video[2], self.thresholds)

    def _judge(self, new: Sequence[int] = ()) -> tuple[Labels, str, str]:
        """Labels, a snapshot (frames just seen, anomalies by frame) and reasoning naming the frames."""
        f1, f2 = self._findings()
        labels = compare(f1, f2)
        snapshot = f"{f1.describe(1)}. {f2.describe(2)}."
        if new:
            by_video = {v: [fid for fid in sorted(new) if self.protocol.locate(fid)[0] == v] for v in (1, 2)}
            listed = " and ".join(f"{', '.join(str(f) for f in ids)} (video {v})" for v, ids in by_video.items() if ids)
            snapshot = f"New frames {listed}. {snapshot}"
        reasons = []
        for dim in DIMENSION_KEYS:
            bad = {
                v: ", ".join(f"{kind} at #{p + 1}" for p, kind in sorted(f.flags[dim])) for v, f in ((1, f1), (2, f2))
            }
            if labels[dim] == 0:
                why = f"both flawed (V1 {bad[1]}; V2 {bad[2]})" if bad[1] else "no flaw seen in either"
                reasons.append(f"{dim}: tie, {why}")
            else:
                loser = 3 - labels[dim]
                reasons.append(f"{dim}: video {labels[dim]}, video {loser} has {bad[loser]}")
        think = (
            f"Seen {len(self.notes)} of {2 * self.protocol.frames_per_video} frames. "
            + "; ".join(reasons)
            + f". Overall goes to the video winning more dimensions: OA={labels['OA']}."
        )
        return labels, snapshot, think


class AnswerNowAgent(_StatsJudge):
    """Judges at once from the initial frames with the frame statistics; no tool."""

    def act(self, observation: Mapping[str, Any], info: Mapping[str, Any]) -> str:
        new = self._observe(observation, info)
        labels, snapshot, think = self._judge(new)
        return final_turn(snapshot, think, labels)


class ScannerAgent(_StatsJudge):
    """Fetches frames filling the gaps between the initial ones (same positions in both videos), with
    every tool call, then judges from its notes of all the frames it saw."""

    def __init__(self, seed: int = 0, thresholds: Thresholds | None = None, protocol: ProtocolSpec | None = None):
        super().__init__(thresholds, protocol)
        self.seed = int(seed)
        self.plan: list[list[int]] = []
        self.calls = 0

    def reset(self, seed: int | None = None) -> None:
        super().reset(seed)
        self.plan = []
        self.calls = 0

    def _make_plan(self) -> list[list[int]]:
        spec = self.protocol
        per_call = max(1, spec.max_frames_per_call // 2)
        seen = [spec.locate(fid)[1] for fid in self.notes]
        positions = gap_filling_positions(seen, spec.frames_per_video, per_call * spec.max_tool_calls)
        calls = []
        for k in range(0, len(positions), per_call):
            chunk = sorted(positions[k : k + per_call])
            calls.append([spec.frame_id(1, p) for p in chunk] + [spec.frame_id(2, p) for p in chunk])
        return calls

    def act(self, observation: Mapping[str, Any], info: Mapping[str, Any]) -> str:
        first = self.turn == 0
        new = self._observe(observation, info)
        if first:
            self.plan = self._make_plan()
        labels, snapshot, think = self._judge(new)
        calls_left = self.protocol.max_tool_calls - int(info.get("tool_calls", self.calls))
        rejected = info.get("invalid_reason") is not None or info.get("env_error") is not None
        if self.calls < len(self.plan) and calls_left > 0 and not rejected:
            frames = self.plan[self.calls]
            self.calls += 1
            confidence = 3 if self.calls == 1 else 2
            think += f" Next I fetch frames {frames[: len(frames) // 2]} and their matches in video 2."
            return tool_turn(snapshot, think, labels, confidence, frames)
        return final_turn(snapshot, think, labels)
