"""The one record type every dataset produces: a prompt, two video references and labels.

Labels use the protocol's convention: ``1`` = video 1 better, ``2`` = video 2 better, ``0`` = tie,
``None`` = not labelled by this dataset (e.g. GenAI-Bench has only an overall vote).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, runtime_checkable

import numpy as np

#: The judged keys, in protocol order. ``OA`` is the overall preference.
DIMENSION_KEYS: tuple[str, ...] = ("TA", "VQ", "MQ")
LABEL_KEYS: tuple[str, ...] = (*DIMENSION_KEYS, "OA")
LABEL_VALUES: tuple[int, ...] = (0, 1, 2)


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
class Dimension:
    """One judged dimension: its protocol key, the dataset's name for it and an explanation."""

    key: str
    name: str
    explanation: str


#: Dimension names used by the paper's main training data (VideoGen-Reward).
VIDEOGEN_DIMENSIONS: tuple[Dimension, ...] = (
    Dimension(
        "TA", "Text Alignment", "How well the video matches the text prompt: objects, attributes, actions, counts."
    ),
    Dimension("VQ", "Visual Quality", "Per-frame image quality: sharpness, noise, artifacts, aesthetics."),
    Dimension("MQ", "Motion Quality", "Temporal quality: smooth and plausible motion, no jitter, freezes or jumps."),
)


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


def swap_label(value: int | None) -> int | None:
    """Label of the same judgement after exchanging video 1 and video 2."""
    if value is None or value == 0:
        return value
    return 3 - value


@dataclass(frozen=True)
class PairRecord:
    """One judged pair."""

    pair_id: str
    prompt: str
    video_1: VideoRef
    video_2: VideoRef
    labels: Mapping[str, int | None]
    dimensions: tuple[Dimension, ...] = VIDEOGEN_DIMENSIONS
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for key in LABEL_KEYS:
            value = self.labels.get(key)
            if value is not None and value not in LABEL_VALUES:
                raise ValueError(f"pair {self.pair_id!r}: label {key}={value!r} is not one of 0, 1, 2 or None")
        unknown = set(self.labels) - set(LABEL_KEYS)
        if unknown:
            raise ValueError(f"pair {self.pair_id!r}: unknown label keys {sorted(unknown)}")

    def label(self, key: str) -> int | None:
        return self.labels.get(key)

    def swapped(self) -> PairRecord:
        """The same pair with the two videos exchanged and every label mirrored."""
        return replace(
            self,
            video_1=self.video_2,
            video_2=self.video_1,
            labels={k: swap_label(v) for k, v in self.labels.items()},
            meta={**self.meta, "swapped": not bool(self.meta.get("swapped", False))},
        )
