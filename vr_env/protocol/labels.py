"""Label values and the judged dimensions: one owner for what an answer can say.

Values use one convention everywhere (answers, dataset labels, metrics): ``1`` = video 1 better,
``2`` = video 2 better, ``0`` = tie, ``None`` = not labelled.

>>> overall_from_dimensions({"TA": 1, "VQ": 2, "MQ": 1})
1
>>> swap_label(1), swap_label(0), swap_label(None)
(2, 0, None)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

#: The judged dimensions, in protocol order.
DIMENSION_KEYS: tuple[str, ...] = ("TA", "VQ", "MQ")
#: Every answer key: the dimensions plus ``OA``, the overall preference.
LABEL_KEYS: tuple[str, ...] = (*DIMENSION_KEYS, "OA")
#: ``0`` = tie, ``1`` = video 1 better, ``2`` = video 2 better.
LABEL_VALUES: tuple[int, ...] = (0, 1, 2)
#: Confidence values of a provisional answer: 1 (high) .. 3 (low).
CONFIDENCE_VALUES: tuple[int, ...] = (1, 2, 3)


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


def swap_label(value: int | None) -> int | None:
    """Label of the same judgement after exchanging video 1 and video 2."""
    if value is None or value == 0:
        return value
    return 3 - value


def overall_from_dimensions(labels: Mapping[str, int | None]) -> int:
    """The OA majority rule: dimensions won by video 1 minus those won by video 2; > 0 -> 1, < 0 -> 2, 0 -> tie."""
    margin = sum(labels.get(d) == 1 for d in DIMENSION_KEYS) - sum(labels.get(d) == 2 for d in DIMENSION_KEYS)
    return 0 if margin == 0 else (1 if margin > 0 else 2)


def all_labelled_correct(answer: Mapping[str, int] | None, labels: Mapping[str, int | None]) -> bool:
    """Every labelled key of ``answer`` matches its label (at least one key labelled).

    >>> all_labelled_correct({"TA": 1, "VQ": 0, "MQ": 2, "OA": 1}, {"TA": 1, "VQ": None, "MQ": 2, "OA": 1})
    True
    """
    if answer is None:
        return False
    labelled = {k: v for k, v in labels.items() if v is not None}
    return bool(labelled) and all(answer.get(k) == v for k, v in labelled.items())
