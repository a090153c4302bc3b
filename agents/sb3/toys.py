"""Toy settings where an SB3 agent learns in seconds, and the PPO arguments used on them."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
from stable_baselines3.common.utils import LinearSchedule

from agents.sb3.exploration import ExplorationBonus
from agents.sb3.extractor import SlotCNN, VideoPoolCNN
from agents.sb3.wrapper import make_sb3_env

#: Toy settings (``make_sb3_env`` keyword arguments, see benchmarks/sb3_toy.py). ``noise``: only noise
#: defects (VQ) over the whole clip, so the two initial frames always show them; TA = MQ = tie and
#: OA = VQ; PPO with :class:`SlotCNN` learns it in 10k steps. ``localized-noise``: one noise window of
#: 1/4 of the clip per noisy video; the initial frames touch about a quarter of the windows, the
#: initial frames plus both segments all of them (memory window = tool calls, so fetched frames stay
#: visible until the answer); PPO did not learn it within our budget (docs/sb3.md). ``find-noise``: the
#: same pairs and budget, with the ``slot_video`` key (for :class:`VideoPoolCNN`) and the CoT-gain term
#: off (``reward={"cot_gain": 0.0}``: no pay for a bad first provisional answer), so the return is
#: 1 + accuracy and only looking pays; PPO learns to fetch both segments and judge (docs/sb3.md).
TOY_SETTINGS: dict[str, dict[str, Any]] = {
    "noise": {
        "dataset_kwargs": {
            "kinds": ["noise"],
            "defect_prob": {"VQ": 0.5},
            "defect_extent": 1.0,
            "num_frames": 16,
            "frames_per_video": 8,
            "initial_frames": 2,
            "height": 56,
            "width": 56,
        },
        "frames_per_video": 8,
        "initial_frames": 2,
        "max_frames_per_call": 2,
        "max_tool_calls": 0,
        "memory_window": 0,
        "observation_size": (36, 36),
        "segments": 1,
    },
    "localized-noise": {
        "dataset_kwargs": {
            "kinds": ["noise"],
            "defect_prob": {"VQ": 0.5},
            "defect_extent": 0.25,
            "num_frames": 16,
            "frames_per_video": 8,
            "initial_frames": 2,
            "height": 56,
            "width": 56,
        },
        "frames_per_video": 8,
        "initial_frames": 2,
        "max_frames_per_call": 4,
        "max_tool_calls": 2,
        "memory_window": 2,
        "observation_size": (36, 36),
        "segments": 2,
    },
}
TOY_SETTINGS["find-noise"] = {**TOY_SETTINGS["localized-noise"], "slot_video": True, "reward": {"cot_gain": 0.0}}


#: Training-only shaping per toy (:func:`make_toy_env` with ``training=True``): ``exploration`` are the
#: arguments of :class:`ExplorationBonus` (the paper's tool-use exploration term, omega 0.2, eta 0.5).
TOY_TRAINING: dict[str, dict[str, Any]] = {"find-noise": {"exploration": {"omega": 0.2, "eta": 0.5}}}


def make_toy_env(name: str, n: int, seed: int, training: bool = False) -> gym.Env:
    """The SB3 env of toy ``name`` with ``n`` pairs of generator seed ``seed``; with ``training``, wrapped
    in the toy's training-only shaping (:data:`TOY_TRAINING`). Evaluate on ``training=False``."""
    env: gym.Env = make_sb3_env(**toy_env_kwargs(name, n, seed))
    shaping = TOY_TRAINING.get(name, {}) if training else {}
    if "exploration" in shaping:
        env = ExplorationBonus(env, **shaping["exploration"])
    return env


def toy_env_kwargs(name: str, n: int, seed: int) -> dict[str, Any]:
    """:func:`make_sb3_env` arguments of toy ``name`` (:data:`TOY_SETTINGS`) with ``n`` synthetic pairs
    of generator seed ``seed`` (train and held-out sets differ by seed)."""
    if name not in TOY_SETTINGS:
        raise ValueError(f"unknown toy {name!r}; choose one of {sorted(TOY_SETTINGS)}")
    base = TOY_SETTINGS[name]
    return {**base, "dataset_kwargs": {**base["dataset_kwargs"], "n": int(n), "seed": int(seed)}}


def toy_ppo_kwargs(extractor: str = "slot") -> dict[str, Any]:
    """PPO arguments used on the toys (benchmarks/sb3_toy.py): short rollouts, 10 epochs, a learning
    rate decaying linearly from 3e-3 to 3e-4, entropy bonus 0.01; ``extractor`` ``"slot"``
    (:class:`SlotCNN`), ``"pool"`` (:class:`VideoPoolCNN`, needs ``slot_video=True``) or ``"nature"``
    (SB3's default ``CombinedExtractor`` with ``NatureCNN``)."""
    if extractor == "slot":
        policy_kwargs: dict[str, Any] = {"features_extractor_class": SlotCNN, "net_arch": [64]}
    elif extractor == "pool":
        policy_kwargs = {"features_extractor_class": VideoPoolCNN, "net_arch": [64]}
    elif extractor == "nature":
        policy_kwargs = {"features_extractor_kwargs": {"cnn_output_dim": 64}, "net_arch": [64]}
    else:
        raise ValueError(f"extractor must be 'slot', 'pool' or 'nature', got {extractor!r}")
    return {
        "n_steps": 64,
        "batch_size": 64,
        "n_epochs": 10,
        "learning_rate": LinearSchedule(3e-3, 3e-4, 1.0),
        "ent_coef": 0.01,
        "policy_kwargs": policy_kwargs,
    }
