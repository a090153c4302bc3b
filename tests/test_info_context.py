"""``info_context=False``: ``info`` without the windowed context, for vectorized RL (benchmarks/vector_env.py)."""

from __future__ import annotations

import multiprocessing as mp

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector.utils import create_shared_memory, read_from_shared_memory, write_to_shared_memory

from tests.test_env import final_turn, tool_turn
from vr_env.config import EnvConfig
from vr_env.context import Context
from vr_env.env import VRJudgeEnv
from vr_env.spaces import TextSpace

ACTIONS = (
    tool_turn("TA=1,VQ=1,MQ=0,OA=1,CF=2", [1, 2, 60]),
    "no protocol here",
    tool_turn("TA=1,VQ=1,MQ=0,OA=1,CF=3", [30, 70]),
    final_turn("TA=1,VQ=1,MQ=0,OA=1"),
)


def _episode(pairs, info_context: bool) -> list[tuple[dict, dict]]:
    env = VRJudgeEnv(dataset=pairs, info_context=info_context)
    steps = [env.reset(seed=3, options={"pair_index": 1})]
    for action in ACTIONS:
        obs, reward, term, trunc, info = env.step(action)
        steps.append((obs, {**info, "_reward": reward, "_done": (term, trunc)}))
    assert steps[-1][1]["_done"] == (True, False)
    return steps


def test_default_keeps_the_context() -> None:
    assert EnvConfig().info_context is True
    with pytest.raises(ValueError, match="info_context must be true or false"):
        EnvConfig(info_context="no")  # type: ignore[arg-type]


def test_info_without_context_keeps_every_other_key_and_the_observations(pairs) -> None:
    full, lean = _episode(pairs, True), _episode(pairs, False)
    for (obs_full, info_full), (obs_lean, info_lean) in zip(full, lean, strict=True):
        assert isinstance(info_full["context"], Context) and "context" not in info_lean
        assert info_lean == {k: v for k, v in info_full.items() if k != "context"}
        assert obs_full.keys() == obs_lean.keys() and obs_full["text"] == obs_lean["text"]
        for key in ("frames", "frame_mask", "frame_ids"):
            np.testing.assert_array_equal(obs_full[key], obs_lean[key])
    assert "reward_components" in lean[-1][1] and lean[-1][1]["tool_calls"] == 2


def test_env_context_property_still_works_without_info_context(pairs) -> None:
    env = VRJudgeEnv(dataset=pairs, info_context=False)
    env.reset(seed=0, options={"pair_index": 0})
    env.step(ACTIONS[0])
    assert len(env.context.visible_frames()) == env.config.initial_frames + 3


def test_async_vector_env_with_shared_memory_and_no_context(pairs) -> None:
    def make(info_context: bool):
        return lambda: VRJudgeEnv(dataset=pairs, frames_per_video=16, info_context=info_context)

    async_envs = gym.vector.AsyncVectorEnv([make(False) for _ in range(2)], shared_memory=True)
    sync_envs = gym.vector.SyncVectorEnv([make(True) for _ in range(2)])
    try:
        results = []
        for envs in (async_envs, sync_envs):
            obs, infos = envs.reset(seed=[5, 6], options={"pair_index": 2})
            steps = [(obs, infos)]
            for action in (tool_turn("TA=1,VQ=1,MQ=1,OA=1,CF=1", [2, 20]), "bad", final_turn("TA=0,VQ=0,MQ=0,OA=0")):
                obs, rewards, term, trunc, infos = envs.step([action, action])
                steps.append(({k: np.array(v) if k != "text" else tuple(v) for k, v in obs.items()}, infos))
            assert term.all()
            results.append(steps)
        for (obs_a, info_a), (obs_s, info_s) in zip(*results, strict=True):
            assert "context" not in info_a and "context" in info_s
            assert set(info_a) | {"context", "_context"} == set(info_s)
            assert tuple(obs_a["text"]) == tuple(obs_s["text"])
            np.testing.assert_array_equal(obs_a["frames"], obs_s["frames"])
            np.testing.assert_array_equal(obs_a["frame_ids"], obs_s["frame_ids"])
    finally:
        async_envs.close()
        sync_envs.close()


def test_shared_text_shorter_text_hides_the_stale_tail() -> None:
    space = TextSpace(16)
    memory = create_shared_memory(space, n=1, ctx=mp)
    view = read_from_shared_memory(space, memory, n=1)
    write_to_shared_memory(space, 0, "a long text here", memory)
    write_to_shared_memory(space, 0, "short ✓", memory)
    assert view[0] == "short ✓"
    write_to_shared_memory(space, 0, "", memory)
    assert view[0] == ""


def test_agents_reading_the_context_name_the_option(pairs) -> None:
    from vr_env.context import context_from_info

    env = VRJudgeEnv(dataset=pairs, info_context=False)
    _, info = env.reset(seed=0, options={"pair_index": 0})
    with pytest.raises(ValueError, match="info_context=False"):
        context_from_info(info)
    _, info = VRJudgeEnv(dataset=pairs).reset(seed=0, options={"pair_index": 0})
    assert isinstance(context_from_info(info), Context)
