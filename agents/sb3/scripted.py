"""Scripted reference policies for the SB3 wrapper: a noise reader that fetches every segment first, or not.

They read the wrapper's own observation (the stacked thumbnails, ``frame_mask``, ``slot_video``,
``fetched``, ``budget``), so they measure what the observation lets a judge see; they are the
references PPO is compared with on the ``find-noise`` toy (benchmarks/sb3_tool.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from agents.frame_stats import frame_stats
from agents.sb3.evaluation import Predict
from agents.sb3.wrapper import ANSWER_NOW, Observation

#: Median absolute Laplacian above which a thumbnail counts as noisy (clean synthetic frames: < 1;
#: the toys' noise: well above 5).
NOISE_THRESHOLD = 3.0


def video_noise(observation: Observation, threshold: float = NOISE_THRESHOLD) -> tuple[bool, bool]:
    """Whether any visible frame of video 1, and of video 2, looks noisy (needs the ``slot_video`` key)."""
    if "slot_video" not in observation:
        raise ValueError("the observation has no slot_video key: make_sb3_env(slot_video=True)")
    frames = np.asarray(observation["frames"])
    mask, second = np.asarray(observation["frame_mask"]), np.asarray(observation["slot_video"])
    noisy = [False, False]
    for k in np.flatnonzero(mask):
        image = frames[:, :, 3 * k : 3 * k + 3]
        if frame_stats(image).noise > threshold:
            noisy[int(second[k])] = True
    return noisy[0], noisy[1]


def noise_answer(observation: Observation, threshold: float = NOISE_THRESHOLD) -> list[int]:
    """``[TA, VQ, MQ, OA]`` from :func:`video_noise`: the video without visible noise is better, else a tie."""
    noisy_1, noisy_2 = video_noise(observation, threshold)
    vq = 0 if noisy_1 == noisy_2 else (2 if noisy_1 else 1)
    return [0, vq, 0, vq]


def noise_reader(fetch: bool, threshold: float = NOISE_THRESHOLD) -> Predict:
    """A scripted judge: with ``fetch``, fetch each not yet fetched segment in order while tool calls are
    left, then answer with :func:`noise_answer`; without, answer from the initial frames at once."""

    def predict(observation: Observation) -> Any:
        answer = noise_answer(observation, threshold)
        unfetched = np.flatnonzero(np.asarray(observation["fetched"]) == 0)
        if fetch and unfetched.size and int(observation["budget"][1]) > 0:
            return np.array([int(unfetched[0]) + 1, *answer])
        return np.array([ANSWER_NOW, *answer])

    return predict
