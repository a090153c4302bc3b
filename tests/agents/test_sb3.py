"""The Stable-Baselines3 path: numeric spaces, action -> protocol text, env checkers, PPO smoke run."""

from __future__ import annotations

import warnings
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3 import PPO
from stable_baselines3.common.env_checker import check_env as sb3_check_env
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.preprocessing import preprocess_obs

from agents.sb3 import (
    SB3JudgeWrapper,
    SlotCNN,
    constant_policy,
    evaluate_judge,
    make_sb3_env,
    random_policy,
    sb3_observation_size,
    segment_frame_ids,
    toy_env_kwargs,
    toy_ppo_kwargs,
)
from vr_env.config import EnvConfig
from vr_env.env import VRJudgeEnv
from vr_env.protocol.parsing import parse_turn

#: F = 8 candidates per video, 1 initial frame per video, 2 calls of up to 4 frames, K = 2 + 4 = 6.
SMALL: dict[str, Any] = {
    "frames_per_video": 8,
    "initial_frames": 2,
    "max_frames_per_call": 4,
    "max_tool_calls": 2,
    "memory_window": 1,
    "dataset_kwargs": {"n": 6},
    "segments": 4,
}


def small_env(**overrides: Any) -> SB3JudgeWrapper:
    return make_sb3_env(**{**SMALL, **overrides})


def visible_ids(info: dict[str, Any]) -> list[int]:
    return [f.frame_id for f in info["context"].visible_frames()]


def test_spaces() -> None:
    env = small_env()
    assert env.action_space == gym.spaces.MultiDiscrete([5, 3, 3, 3, 3])
    space = env.observation_space
    assert space["frames"] == gym.spaces.Box(0, 255, (48, 48, 18), dtype=np.uint8)
    assert space["frame_mask"] == gym.spaces.MultiBinary(6)
    assert space["budget"] == gym.spaces.MultiDiscrete([4, 3])
    assert space["fetched"] == gym.spaces.MultiBinary(4)
    assert sb3_observation_size(16) == (56, 56)
    assert make_sb3_env(dataset_kwargs={"n": 2}).config.observation_size == (56, 56)  # K = 16 by default
    wide = make_sb3_env(config=EnvConfig(memory_window=2), dataset_kwargs={"n": 2})  # K = 24: 72 channels
    assert wide.observation_space["frames"].shape == (80, 80, 72)


def test_segments_are_matched_positions_in_both_videos() -> None:
    config = EnvConfig(frames_per_video=12, max_frames_per_call=4)
    segments = segment_frame_ids(config, 3)
    assert segments == ((2, 4, 14, 16), (6, 8, 18, 20), (10, 12, 22, 24))
    for s, ids in enumerate(segments):
        half = len(ids) // 2
        assert [i + 12 for i in ids[:half]] == list(ids[half:])
        assert all(4 * s < i <= 4 * (s + 1) for i in ids[:half])
    # Segments shorter than max_frames_per_call // 2 ask for each of their positions once.
    assert segment_frame_ids(EnvConfig(frames_per_video=4, max_frames_per_call=8), 4)[1] == (2, 6)


def test_answer_action_renders_a_final_turn() -> None:
    env = small_env()
    env.reset(seed=0, options={"pair_index": 0})
    text = env.action_text([0, 1, 2, 0, 1])
    parsed = parse_turn(text)
    assert parsed.format_ok and parsed.tool_call is None
    assert parsed.answer is not None and parsed.answer.kind == "final"
    assert parsed.answer.values == {"TA": 1, "VQ": 2, "MQ": 0, "OA": 1}
    _, reward, terminated, truncated, info = env.step(np.array([0, 1, 2, 0, 1]))
    assert terminated and not truncated and info["action_text"] == text
    assert info["final_answer"] == {"TA": 1, "VQ": 2, "MQ": 0, "OA": 1}
    assert info["reward_components"]["format"] == 1.0 and info["invalid_turns"] == 0


@pytest.mark.parametrize("segment", [1, 2, 3, 4])
def test_fetch_action_renders_a_tool_turn_with_the_segment_frames(segment: int) -> None:
    env = small_env()
    obs, info = env.reset(seed=0, options={"pair_index": 1})
    text = env.action_text([segment, 2, 1, 0, 2])
    parsed = parse_turn(text)
    assert parsed.format_ok
    assert parsed.answer is not None and parsed.answer.kind == "recommend" and parsed.answer.confidence == 2
    assert parsed.answer.values == {"TA": 2, "VQ": 1, "MQ": 0, "OA": 2}
    assert parsed.tool_call is not None and parsed.tool_call.frames == env.segment_frames[segment - 1]
    obs, reward, terminated, truncated, info = env.step(np.array([segment, 2, 1, 0, 2]))
    assert (reward, terminated, truncated, info["invalid_reason"]) == (0.0, False, False, None)
    assert visible_ids(info)[2:] == list(env.segment_frames[segment - 1])
    assert obs["frame_mask"].tolist() == [1] * 6
    assert obs["budget"].tolist() == [1, 1]
    assert obs["fetched"].tolist() == [int(s == segment) for s in range(1, 5)]


def test_budget_exhausted_fetch_becomes_the_final_answer() -> None:
    env = small_env(max_tool_calls=1)
    env.reset(seed=0, options={"pair_index": 2})
    obs, reward, terminated, truncated, info = env.step(np.array([1, 0, 0, 0, 0]))
    assert not terminated and obs["budget"].tolist() == [1, 0]
    text = env.action_text([3, 1, 1, 1, 1])
    parsed = parse_turn(text)
    assert parsed.tool_call is None and parsed.answer is not None and parsed.answer.kind == "final"
    assert parsed.format_ok and "no tool call is left" in text
    obs, reward, terminated, truncated, info = env.step(np.array([3, 1, 1, 1, 1]))
    assert terminated and not truncated
    assert info["invalid_turns"] == 0 and info["reward_components"]["format"] == 1.0
    assert info["final_answer"] == {"TA": 1, "VQ": 1, "MQ": 1, "OA": 1}
    assert obs["fetched"].tolist() == [1, 0, 0, 0]


def test_without_tool_calls_every_action_answers_at_once() -> None:
    env = small_env(max_tool_calls=0)
    env.reset(seed=0)
    _, _, terminated, _, info = env.step(np.array([2, 0, 0, 0, 0]))
    assert terminated and info["tool_calls"] == 0 and info["invalid_turns"] == 0


def test_random_actions_never_break_the_protocol() -> None:
    env = small_env()
    space = gym.spaces.MultiDiscrete(env.action_space.nvec, seed=3)
    for episode in range(20):
        env.reset(seed=episode)
        done = False
        while not done:
            _, _, terminated, truncated, info = env.step(space.sample())
            assert parse_turn(info["action_text"]).format_ok and info["invalid_reason"] is None
            done = terminated or truncated
        assert terminated and info["reward_components"]["format"] == 1.0


def test_observation_stacks_the_visible_slots_on_the_channel_axis() -> None:
    env = small_env()
    plain = VRJudgeEnv(**{k: v for k, v in SMALL.items() if k != "segments"}, observation_size=(48, 48))
    obs, _ = env.reset(seed=0, options={"pair_index": 3})
    ref, _ = plain.reset(seed=0, options={"pair_index": 3})
    for k in range(6):
        assert np.array_equal(obs["frames"][..., 3 * k : 3 * k + 3], ref["frames"][k])
    assert obs["frame_mask"].tolist() == [1, 1, 0, 0, 0, 0]
    assert not obs["frames"][..., 6:].any() and obs["frames"][..., :6].any()
    assert obs["budget"].tolist() == [0, 2] and obs["fetched"].tolist() == [0, 0, 0, 0]
    assert env.observation_space.contains(obs)


def test_checkers_pass() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sb3_check_env(small_env())
    env = gym.make("VRJudgeSB3-v0", **SMALL)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gym_check_env(env)
    # The one expected note: a wrapper is not its unwrapped env.
    assert [str(w.message) for w in caught if "different from the unwrapped version" not in str(w.message)] == []


def test_bad_setups_raise() -> None:
    with pytest.raises(ValueError, match="observation_size"):
        small_env(observation_size=(32, 32))
    with pytest.raises(ValueError, match="observation_size"):
        make_sb3_env(observation_size=(48, 48), dataset_kwargs={"n": 2})  # K = 16: 48 channels
    with pytest.raises(ValueError, match="segments"):
        small_env(segments=9)
    with pytest.raises(ValueError, match="max_frames_per_call"):
        small_env(max_frames_per_call=1)
    with pytest.raises(TypeError, match="VRJudgeEnv"):
        SB3JudgeWrapper(gym.make("CartPole-v1"))
    env = small_env()
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action"):
        env.action_text([5, 0, 0, 0, 0])


def test_wraps_a_made_env() -> None:
    env = SB3JudgeWrapper(gym.make("vr_env:VRJudge-v0", observation_size=(64, 64), dataset_kwargs={"n": 2}))
    obs, _ = env.reset(seed=0)
    assert obs["frames"].shape == (64, 64, 48) and obs["frame_mask"].sum() == 8


def test_make_vec_env_with_two_envs() -> None:
    vec = make_vec_env("VRJudgeSB3-v0", n_envs=2, seed=0, env_kwargs=SMALL)
    obs = vec.reset()
    assert obs["frames"].shape == (2, 48, 48, 18) and obs["budget"].tolist() == [[0, 2], [0, 2]]
    for _ in range(5):
        obs, rewards, dones, infos = vec.step(np.array([[1, 0, 0, 0, 0], [0, 1, 1, 1, 1]]))
        assert rewards.shape == (2,) and all(parse_turn(i["action_text"]).format_ok for i in infos)
    assert dones[1]
    vec.close()


def test_wrapper_is_deterministic_given_a_seed() -> None:
    def episode(seed: int) -> list[Any]:
        env = small_env()
        space = gym.spaces.MultiDiscrete(env.action_space.nvec, seed=seed)
        obs, info = env.reset(seed=seed)
        trace: list[Any] = [info["pair_index"], obs["frames"].copy()]
        done = False
        while not done:
            obs, reward, terminated, truncated, info = env.step(space.sample())
            trace += [info["action_text"], reward, obs["frames"].copy(), obs["budget"].tolist()]
            done = terminated or truncated
        return trace

    first, second = episode(7), episode(7)
    assert len(first) == len(second)
    for a, b in zip(first, second, strict=True):
        assert np.array_equal(a, b) if isinstance(a, np.ndarray) else a == b


def test_evaluate_judge_and_references() -> None:
    env = make_sb3_env(**toy_env_kwargs("noise", 20, seed=1))
    ties = evaluate_judge(constant_policy([0, 0, 0, 0, 0]), env, 20)
    assert ties["accuracy"]["TA"] == ties["accuracy"]["MQ"] == 1.0  # noise-only toy: TA and MQ are ties
    assert ties["answer_counts"]["VQ"] == [20, 0, 0] and ties["tool_calls_mean"] == 0.0
    first = evaluate_judge(random_policy(env.action_space, seed=1), env, 20)
    assert first == evaluate_judge(random_policy(env.action_space, seed=1), env, 20)


@pytest.mark.parametrize("extractor", ["slot", "nature"])
def test_ppo_learn_smoke_run(extractor: str) -> None:
    torch.set_num_threads(1)
    vec = make_vec_env(make_sb3_env, n_envs=2, seed=0, env_kwargs=SMALL)
    model = PPO("MultiInputPolicy", vec, seed=0, **{**toy_ppo_kwargs(extractor), "n_epochs": 1})
    model.learn(256)
    assert model.num_timesteps >= 256
    action, _ = model.predict(vec.reset(), deterministic=True)
    assert action.shape == (2, 5)
    vec.close()


def test_slot_cnn_zeroes_empty_slots() -> None:
    env = small_env()
    extractor = SlotCNN(env.observation_space)  # type: ignore[arg-type]
    obs, _ = env.reset(seed=0)
    batch = preprocess_obs({key: torch.as_tensor(value[None]) for key, value in obs.items()}, env.observation_space)
    features = extractor(batch)  # type: ignore[arg-type]
    # 6 slots x 16 features, then budget (one-hot 4 + 3), fetched (4) and frame_mask (6), SB3's key order
    assert features.shape == (1, extractor.features_dim) == (1, 6 * 16 + 7 + 4 + 6)
    per_slot = features[0, : 6 * 16].reshape(6, 16)
    assert per_slot[2:].abs().sum() == 0 and per_slot[:2].abs().sum() > 0


# examples/03_sb3_ppo.py runs in its quick mode, output checked, in tests/test_examples.py.
