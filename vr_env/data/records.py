"""The one record type every dataset produces: a prompt, two video references and labels.

Label keys and values are the protocol's (:mod:`vr_env.protocol.labels`, re-exported here with
:class:`~vr_env.video.ref.VideoRef` for dataset code). Labels use the protocol's convention: ``1`` = video 1 better, ``2`` = video 2 better, ``0`` = tie,
``None`` = not labelled by this dataset (e.g. GenAI-Bench has only an overall vote).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from vr_env.protocol.labels import (
    DIMENSION_KEYS,
    LABEL_KEYS,
    LABEL_VALUES,
    VIDEOGEN_DIMENSIONS,
    Dimension,
    swap_label,
)
from vr_env.video.ref import SyntheticClip, VideoRef

__all__ = [
    "DIMENSION_KEYS",
    "LABEL_KEYS",
    "LABEL_VALUES",
    "VIDEOGEN_DIMENSIONS",
    "Dimension",
    "PairRecord",
    "SyntheticClip",
    "VideoRef",
    "swap_label",
]


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
