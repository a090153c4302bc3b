"""Uniform sampling of the F candidate frames of a video, and validation of candidate positions.

Rule: candidate ``i`` (0-based, ``0 <= i < F``) of a video with ``n`` frames is raw frame
``floor((i + 0.5) * n / F)``, the centre of the ``i``-th of ``F`` equal segments of the video.
If ``n < F`` indices repeat (a frame is shown for several positions; every frame appears at least
once) and every position stays valid.

>>> uniform_indices(126, 4).tolist()
[15, 47, 78, 110]
>>> uniform_indices(3, 8).tolist()
[0, 0, 0, 1, 1, 2, 2, 2]
"""

from __future__ import annotations

import operator
from collections.abc import Sequence

import numpy as np

from vr_env.video.errors import VideoError


def uniform_indices(num_frames: int, count: int) -> np.ndarray:
    """Raw frame index (int64) of each of ``count`` uniformly sampled candidates of a ``num_frames`` video."""
    if num_frames < 1:
        raise ValueError(f"a video needs at least one frame, got num_frames={num_frames}")
    if count < 1:
        raise ValueError(f"frames_per_video must be >= 1, got {count}")
    # Integer arithmetic: floor((2i + 1) * n / (2F)) is exact, no float rounding at segment edges.
    i = np.arange(count, dtype=np.int64)
    return ((2 * i + 1) * num_frames) // (2 * count)


def check_positions(positions: Sequence[int], frames_per_video: int, path: str) -> np.ndarray:
    """Positions as an int64 array, or ``VideoError`` naming ``path`` if one is not an int in ``[0, F)``."""
    out = np.empty(len(positions), dtype=np.int64)
    for k, pos in enumerate(positions):
        if isinstance(pos, (bool, np.bool_)):
            raise VideoError(path, f"frame position {pos!r} is not an integer")
        try:
            value = operator.index(pos)
        except TypeError:
            raise VideoError(path, f"frame position {pos!r} is not an integer") from None
        if not 0 <= value < frames_per_video:
            raise VideoError(
                path,
                f"frame position {value} is out of range: positions are 0..{frames_per_video - 1} (F={frames_per_video})",
            )
        out[k] = value
    return out
