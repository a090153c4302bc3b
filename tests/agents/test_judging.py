"""Judging rules of the scripted judges: a detector for every synthetic defect kind, gap filling."""

from __future__ import annotations

import numpy as np
import pytest

from agents.frame_stats import frame_stats
from agents.judging import analyse_video, compare, gap_filling_positions
from vr_env.data.synthetic import candidate_frame_indices
from vr_env.data.synthetic_render import KIND_DIMENSION, Defect, ProceduralClip, Scene

SCENE = Scene(shape="square", colour="red", direction="left to right", background="grey", lane=0.4)
VALUES = {"wrong_colour": "blue", "wrong_shape": "circle"}


def clip_stats(defects: list[Defect], positions: range = range(0, 48, 3)) -> dict:
    clip = ProceduralClip(SCENE, defects, noise_key=(0, 1))
    raw = candidate_frame_indices(96, 48)
    images = clip.render(raw[list(positions)])
    return {p: frame_stats(image) for p, image in zip(positions, images, strict=True)}


def test_a_clean_clip_has_no_findings() -> None:
    found = analyse_video(clip_stats([]))
    assert not any(found.has(d) for d in ("TA", "VQ", "MQ"))


@pytest.mark.parametrize("kind", sorted(KIND_DIMENSION))
def test_every_defect_kind_is_found_in_its_dimension(kind: str) -> None:
    defect = Defect(kind, 1, 40, 50, VALUES.get(kind))
    found = analyse_video(clip_stats([defect]))
    flagged = [d for d in ("TA", "VQ", "MQ") if found.has(d)]
    assert flagged == [KIND_DIMENSION[kind]], (kind, found.flags)
    clean = analyse_video(clip_stats([]))
    labels = compare(clean, found)
    assert labels[KIND_DIMENSION[kind]] == 1 and labels["OA"] == 1


def test_gap_filling_covers_every_defect_window() -> None:
    initial = [6, 18, 30, 42]
    added = gap_filling_positions(initial, 48, 12)
    seen = sorted(initial + added)
    assert len(added) == 12 and len(set(seen)) == 16
    assert max(np.diff([-1, *seen, 48])) <= 4  # any 5 consecutive positions contain a seen one
