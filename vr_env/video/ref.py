"""Where one video comes from: a file path with metadata, or an in-memory clip."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class SyntheticClip(Protocol):
    """A video that is rendered in memory instead of decoded from a file."""

    num_frames: int
    fps: float
    height: int
    width: int

    def render(self, frame_indices: np.ndarray) -> np.ndarray:
        """Return uint8 frames of shape ``(len(frame_indices), height, width, 3)``."""
        ...


@dataclass(frozen=True)
class VideoRef:
    """Where one video comes from.

    ``path`` is an absolute file path for real videos, or a ``synthetic:...`` name when ``clip`` is
    set. ``fps`` and ``num_frames`` are metadata from the dataset row when known.
    """

    path: str
    fps: float | None = None
    num_frames: int | None = None
    model: str | None = None
    clip: SyntheticClip | None = field(default=None, compare=False, repr=False)

    @property
    def is_synthetic(self) -> bool:
        return self.clip is not None
