"""The protocol's numbers and its one frame numbering.

All ``N = 2F`` candidate frames share one 1-based index space: ``1..F`` are video 1 (candidate
positions ``0..F-1``), ``F+1..2F`` are video 2. :class:`ProtocolSpec` owns that mapping, the
initial-frame rule and the episode's limits; the environment hands it to agents as
``info["protocol"]`` so no agent needs to read numbers out of the prompt's prose.

>>> spec = ProtocolSpec()
>>> spec.total_frames, spec.locate(55), spec.frame_id(2, 6)
(96, (2, 6), 55)
>>> spec.initial_frame_ids()
(7, 19, 31, 43, 55, 67, 79, 91)
>>> ProtocolSpec(initial_frame_rule="stride_from_first").initial_frame_ids()
(1, 13, 25, 37, 49, 61, 73, 85)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

#: How the initial frames are chosen: centres of ``N_in/2`` equal segments of each video (ours), or
#: every ``N // N_in``-th frame id from frame 1 over both videos (the authors' released code).
InitialFrameRule = Literal["segment_centres", "stride_from_first"]
INITIAL_FRAME_RULES: tuple[str, ...] = ("segment_centres", "stride_from_first")


@dataclass(frozen=True)
class ProtocolSpec:
    """Frame numbering and limits of one episode (built by ``EnvConfig.protocol``)."""

    frames_per_video: int = 48
    initial_frames: int = 8
    max_frames_per_call: int = 8
    max_tool_calls: int = 3
    memory_window: int = 1
    initial_frame_rule: InitialFrameRule = "segment_centres"

    def __post_init__(self) -> None:
        if self.initial_frame_rule not in INITIAL_FRAME_RULES:
            raise ValueError(
                f"initial_frame_rule must be one of {', '.join(INITIAL_FRAME_RULES)}, got {self.initial_frame_rule!r}"
            )

    @property
    def total_frames(self) -> int:
        """N: size of the one 1-based frame index space (video 1 then video 2)."""
        return 2 * self.frames_per_video

    @property
    def max_turns(self) -> int:
        """Model turns per episode: every tool call plus the final answer."""
        return self.max_tool_calls + 1

    @property
    def max_visible_frames(self) -> int:
        """Upper bound of images in context: N_in + p * N_ex."""
        return self.initial_frames + self.memory_window * self.max_frames_per_call

    def locate(self, frame_id: int) -> tuple[int, int]:
        """``(video, 0-based candidate position)`` of a 1-based frame id; raises outside ``1..N``."""
        f = self.frames_per_video
        if not 1 <= frame_id <= 2 * f:
            raise ValueError(f"frame id {frame_id} outside 1..{2 * f}")
        return (1, frame_id - 1) if frame_id <= f else (2, frame_id - f - 1)

    def frame_id(self, video: int, position: int) -> int:
        """The 1-based frame id of candidate ``position`` (0-based) of ``video`` (1 or 2)."""
        if video not in (1, 2) or not 0 <= position < self.frames_per_video:
            raise ValueError(f"no frame at video {video}, position {position} (F = {self.frames_per_video})")
        return position + 1 + (video - 1) * self.frames_per_video

    def initial_positions(self) -> tuple[int, ...]:
        """Candidate positions of video 1's initial frames (``segment_centres``: centres of ``N_in/2`` segments)."""
        if self.initial_frame_rule == "stride_from_first":
            return tuple(p for v, p in map(self.locate, self.initial_frame_ids()) if v == 1)
        f, per_video = self.frames_per_video, self.initial_frames // 2
        return tuple(int((j + 0.5) * f / per_video) for j in range(per_video))

    def initial_frame_ids(self) -> tuple[int, ...]:
        """The initial frames' ids, in the order they are shown.

        ``segment_centres``: the same positions in video 1, then in video 2 (7, 19, ..., 91 for N = 96).
        ``stride_from_first``: ``1 + k * max(1, N // N_in)`` for ``k < N_in`` (1, 13, ..., 85 for N = 96),
        which splits evenly between the videos when ``N_in`` divides ``N``.
        """
        if self.initial_frame_rule == "stride_from_first":
            step = max(1, self.total_frames // self.initial_frames)
            return tuple(1 + k * step for k in range(min(self.initial_frames, self.total_frames)))
        positions = self.initial_positions()
        return tuple(self.frame_id(1, p) for p in positions) + tuple(self.frame_id(2, p) for p in positions)
