"""Videos that are frame arrays in memory, and an in-memory, refillable pair dataset.

A video generator's output never touches the disk: :class:`ArrayClip` wraps a ``(T, H, W, 3)``
uint8 array as a :class:`~vr_env.data.records.SyntheticClip`, so ``FrameSource`` samples and resizes
it like a decoded file (its cache key holds the array's content hash, via ``VideoRef.path``).
:class:`InMemoryPairs` is a :class:`~vr_env.data.base.PairDataset` whose records can be replaced
between runs, so a pool of environments built once can judge batch after batch of new pairs.

>>> clip = ArrayClip.from_frames(np.zeros((4, 8, 8, 3), dtype=np.uint8))
>>> clip.num_frames, clip.height, clip.width, video_ref(clip.frames).path.startswith("array:")
(4, 8, 8, True)
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vr_env.data.base import PairDataset
from vr_env.data.records import PairRecord
from vr_env.video.ref import VideoRef

#: Frame rate assumed for an array that does not say (only metadata: sampling is by frame index).
DEFAULT_FPS = 24.0

#: A video as callers give it: a file path, or frames ``(T, H, W, 3)`` / ``(T, 3, H, W)``.
VideoLike = str | os.PathLike[str] | np.ndarray | VideoRef


def as_frames(video: Any) -> np.ndarray:
    """``video`` as uint8 ``(T, H, W, 3)``; accepts channel-first and float arrays in [0, 1].

    Anything with ``__array__`` (a CPU torch tensor) works. Always a new array (the caller's buffer
    may change later; the copy is what gets hashed and cached). Raises ``ValueError`` naming the problem.
    """
    frames = np.asarray(video)
    if frames.ndim != 4:
        raise ValueError(f"a frame array must be (T, H, W, 3) or (T, 3, H, W), got shape {frames.shape}")
    if frames.shape[-1] != 3 and frames.shape[1] == 3:
        frames = np.transpose(frames, (0, 2, 3, 1))
    if frames.shape[-1] != 3:
        raise ValueError(f"a frame array needs 3 colour channels, got shape {frames.shape}")
    if min(frames.shape[:3]) < 1:
        raise ValueError(f"a frame array needs at least one frame of at least 1x1 pixels, got shape {frames.shape}")
    if frames.dtype == np.uint8:
        return np.array(frames, order="C", copy=True)
    if np.issubdtype(frames.dtype, np.floating):
        if not np.isfinite(frames).all():
            raise ValueError("a float frame array contains NaN or infinity")
        low, high = float(frames.min()), float(frames.max())
        if low < 0.0 or high > 1.0:
            raise ValueError(f"float frames must lie in [0, 1], got values in [{low:.3g}, {high:.3g}]")
        return np.ascontiguousarray(np.rint(frames * 255.0).astype(np.uint8))
    raise ValueError(f"frame arrays must be uint8 or float in [0, 1], got dtype {frames.dtype}")


def frames_hash(frames: np.ndarray) -> str:
    """SHA-256 of a uint8 frame array, its shape included."""
    digest = hashlib.sha256(repr(frames.shape).encode())
    digest.update(np.ascontiguousarray(frames).data)
    return digest.hexdigest()


class ArrayClip:
    """A :class:`~vr_env.data.records.SyntheticClip` over frames held in memory (made read-only).

    ``digest`` is the SHA-256 of the frames (:func:`frames_hash`); build with :meth:`from_frames`.
    """

    def __init__(self, frames: np.ndarray, fps: float = DEFAULT_FPS, digest: str | None = None) -> None:
        self.frames = frames
        self.fps = float(fps)
        self.digest = digest or frames_hash(frames)
        self.num_frames, self.height, self.width = (int(n) for n in frames.shape[:3])

    @classmethod
    def from_frames(cls, video: Any, fps: float | None = None) -> ArrayClip:
        """Validate and convert ``video`` (see :func:`as_frames`); the array is made read-only."""
        frames = as_frames(video)
        frames.setflags(write=False)
        return cls(frames, float(fps or DEFAULT_FPS))

    def render(self, frame_indices: np.ndarray) -> np.ndarray:
        return self.frames[np.asarray(frame_indices, dtype=np.int64)]


def video_ref(video: VideoLike, fps: float | None = None) -> VideoRef:
    """A :class:`VideoRef` for a path (made absolute) or a frame array (``path="array:<sha256>"``)."""
    if isinstance(video, VideoRef):
        return video
    if isinstance(video, (str, os.PathLike)):
        return VideoRef(str(Path(video).expanduser().absolute()), fps=fps)
    clip = ArrayClip.from_frames(video, fps)
    return VideoRef(f"array:{clip.digest}", fps=clip.fps, num_frames=clip.num_frames, clip=clip)


def pair_record(
    pair_id: str,
    video_1: VideoLike,
    video_2: VideoLike,
    prompt: str,
    labels: Mapping[str, int | None] | None = None,
    meta: Mapping[str, Any] | None = None,
) -> PairRecord:
    """An (unlabelled by default) pair of two videos given as paths or arrays."""
    return PairRecord(
        pair_id=pair_id,
        prompt=prompt,
        video_1=video_ref(video_1),
        video_2=video_ref(video_2),
        labels=dict(labels or {}),
        meta=dict(meta or {}),
    )


class InMemoryPairs(PairDataset):
    """A pair dataset held in memory whose records :meth:`replace` swaps between runs.

    Environments keep a reference to their dataset, so envs built once on an ``InMemoryPairs`` judge
    whatever it holds at their next ``reset``. Not thread-safe: one run at a time.
    """

    name = "in-memory"

    def __init__(self, records: Sequence[PairRecord] = (), name: str | None = None) -> None:
        super().__init__(records, name=name)

    def replace(self, records: Sequence[PairRecord]) -> None:
        """Hold ``records`` from now on (pair index ``i`` is ``records[i]``)."""
        self.records = list(records)
