"""The tool-discovery setting: slot_video observation, VideoPoolCNN, ExplorationBonus, scripted readers, benchmark."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from stable_baselines3.common.preprocessing import preprocess_obs

from agents.sb3 import ExplorationBonus, VideoPoolCNN, evaluate_judge, make_sb3_env, make_toy_env, toy_env_kwargs
from agents.sb3.scripted import noise_reader, video_noise


def batch(env, *observations):
    stacked = {k: torch.as_tensor(np.stack([o[k] for o in observations])) for k in observations[0]}
    return preprocess_obs(stacked, env.observation_space)


def test_observation_reflects_the_fetched_frames() -> None:
    env = make_toy_env("find-noise", 4, 0)
    obs, info = env.reset(seed=0, options={"pair_index": 0})
    assert obs["frame_mask"].tolist() == [1, 1] + [0] * 8
    assert obs["slot_video"].tolist() == [0, 1] + [0] * 8 and obs["fetched"].tolist() == [0, 0]
    assert not obs["frames"][:, :, 6:].any()  # empty slots are black
    obs, _, _, _, info = env.step(np.array([2, 0, 0, 0, 0]))  # fetch segment 2: 2 frames per video
    assert obs["fetched"].tolist() == [0, 1] and obs["budget"].tolist() == [1, 1]
    assert obs["frame_mask"].tolist() == [1] * 6 + [0] * 4
    ids = [f.frame_id for f in info["context"].visible_frames()]
    f = env.unwrapped.config.frames_per_video
    assert obs["slot_video"][:6].tolist() == [int(i > f) for i in ids]
    assert ids[2:] == list(env.segment_frames[1])
    assert all(obs["frames"][:, :, 3 * k : 3 * k + 3].any() for k in range(6))
    obs, _, terminated, _, _ = env.step(np.array([1, 0, 0, 0, 0]))
    assert obs["fetched"].tolist() == [1, 1] and obs["frame_mask"].all() and not terminated


def test_slot_video_is_off_by_default() -> None:
    assert "slot_video" not in make_sb3_env(dataset_kwargs={"n": 2}).observation_space.spaces


def test_scripted_fetch_then_judge_beats_the_initial_frames_judge() -> None:
    env = make_toy_env("find-noise", 24, 1)
    at_once = evaluate_judge(noise_reader(fetch=False), env, 24)
    fetching = evaluate_judge(noise_reader(fetch=True), env, 24)
    assert at_once["tool_calls_mean"] == 0 and fetching["tool_calls_mean"] == 2
    assert fetching["accuracy"]["VQ"] >= at_once["accuracy"]["VQ"] + 0.25
    assert fetching["accuracy"]["VQ"] >= 0.9


def test_noise_reader_sees_noise_only_where_the_generator_put_it() -> None:
    env = make_toy_env("find-noise", 24, 1)
    for index in range(24):
        obs, _ = env.reset(seed=0, options={"pair_index": index})
        for segment in (1, 2):
            obs, *_ = env.step(np.array([segment, 0, 0, 0, 0]))
        defects = env.unwrapped.dataset[index].meta["defects"]
        assert video_noise(obs) == (bool(defects["video_1"]), bool(defects["video_2"]))


def test_video_pool_cnn_pools_per_video() -> None:
    env = make_toy_env("find-noise", 4, 0)
    torch.manual_seed(0)
    extractor = VideoPoolCNN(env.observation_space)
    obs, _ = env.reset(seed=0, options={"pair_index": 0})
    for segment in (1, 2):
        obs, *_ = env.step(np.array([segment, 0, 0, 0, 0]))
    # Swap two slots of the same video (slots 2 and 3 are video 1's frames of segment 1): same features.
    swapped = {k: v.copy() for k, v in obs.items()}
    swapped["frames"][:, :, 6:9], swapped["frames"][:, :, 9:12] = obs["frames"][:, :, 9:12], obs["frames"][:, :, 6:9]
    assert obs["slot_video"][2] == obs["slot_video"][3] == 0
    features = extractor(batch(env, obs, swapped))
    assert features.shape == (2, extractor.features_dim)
    assert torch.allclose(features[0], features[1], atol=1e-5)
    # Moving a frame to the other video changes them.
    moved = {k: v.copy() for k, v in obs.items()}
    moved["slot_video"][2] = 1
    assert not torch.allclose(extractor(batch(env, moved))[0], features[0])
    with pytest.raises(ValueError, match="slot_video"):
        VideoPoolCNN(make_sb3_env(**{**toy_env_kwargs("find-noise", 2, 0), "slot_video": False}).observation_space)


def play(env, fetch: bool) -> dict:
    env.reset(seed=0)
    action = np.array([1 if fetch else 0, 0, 0, 0, 0])
    while True:
        _, reward, terminated, truncated, info = env.step(action)
        action = np.array([0, 0, 0, 0, 0])
        if terminated or truncated:
            return {"reward": float(reward), **info}


def test_exploration_bonus_pays_a_rare_tool_use_only() -> None:
    env = ExplorationBonus(make_toy_env("find-noise", 16, 0), omega=0.2, eta=0.5, window=10)
    for _ in range(9):
        assert play(env, fetch=False)["exploration_bonus"] == 0.0
    rare = play(env, fetch=True)  # R = 1/10 < omega: pays 0.5 * (0.2 - 0.1)
    assert rare["exploration_bonus"] == pytest.approx(0.05)
    assert rare["reward"] == pytest.approx(rare["reward_components"]["return"] + 0.05)
    assert play(env, fetch=True)["exploration_bonus"] == 0.0  # R = 2/10 = omega
    with pytest.raises(ValueError):
        ExplorationBonus(make_toy_env("find-noise", 2, 0), omega=1.5)


def test_benchmark_runs_with_a_tiny_budget(tmp_path: Path) -> None:
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "sb3_tool.py"
    spec = importlib.util.spec_from_file_location("sb3_tool", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(
        [
            "--timesteps",
            "256",
            "--eval-every",
            "256",
            "--eval-pairs",
            "12",
            "--train-pairs",
            "64",
            "--out",
            str(tmp_path),
        ]
    )
    results = json.loads((tmp_path / "sb3_tool.json").read_text())
    refs = results["references"]
    best = refs["best initial-frames judge (perfect perception, Bayes rule from training labels)"]
    assert refs["scripted noise reader, fetches both segments first"]["accuracy"]["VQ"] > best["accuracy"]["VQ"]
    assert [p["timesteps"] for p in results["curve"]] == [0, 256]
    assert (tmp_path / "sb3_tool.png").stat().st_size > 5000 and "| timesteps |" in (
        tmp_path / "sb3_tool.md"
    ).read_text()
