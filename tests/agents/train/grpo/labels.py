"""Helpers for scripted GRPO tests: a synthetic pair's true labels and an answer line for them."""

from __future__ import annotations

KEYS = ("TA", "VQ", "MQ", "OA")


def pair_labels(pair: int) -> dict[str, int]:
    """The labels of synthetic pair ``pair`` (the default dataset, 16 candidate frames per video)."""
    import gymnasium as gym

    env = gym.make("vr_env:VRJudge-v0", frames_per_video=16)
    labels = dict(env.unwrapped.dataset[pair].labels)
    env.close()
    return {k: int(labels[k]) for k in KEYS}


def answer_line(values: dict[str, int]) -> str:
    """``TA=.., VQ=.., MQ=.., OA=..`` for an answer tag."""
    return ", ".join(f"{k}={values[k]}" for k in KEYS)
