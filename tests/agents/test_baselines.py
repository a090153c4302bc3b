"""Baseline judges: well-formed turns, detectors on every synthetic defect kind, scanner beats answer-now."""

from __future__ import annotations

import pytest

from agents.baselines import AnswerNowAgent, RandomAgent, ScannerAgent
from vr_env.env import VRJudgeEnv
from vr_env.eval import evaluate
from vr_env.protocol.frames import ProtocolSpec
from vr_env.protocol.parsing import parse_turn


def test_agents_read_the_protocol_from_info_not_from_prose() -> None:
    env = VRJudgeEnv(
        dataset_kwargs={"n": 1}, frames_per_video=16, max_tool_calls=2, max_frames_per_call=6, initial_frames=4
    )
    obs, info = env.reset(options={"pair_index": 0})
    assert info["protocol"] == ProtocolSpec(16, 4, 6, 2, 1)
    agent = ScannerAgent()
    agent.act({**obs, "text": "prose that names no numbers"}, info)
    assert agent.protocol == info["protocol"]
    assert len(agent.plan) == 2 and all(len(call) == 6 for call in agent.plan)
    with pytest.raises(ValueError, match="protocol"):
        ScannerAgent().act(obs, {})
    explicit = AnswerNowAgent(protocol=ProtocolSpec(frames_per_video=16, initial_frames=4))
    assert parse_turn(explicit.act(obs, {})).format_ok


@pytest.mark.parametrize("agent_cls", [RandomAgent, AnswerNowAgent, ScannerAgent])
@pytest.mark.parametrize("env_kwargs", [{}, {"frames_per_video": 16, "max_tool_calls": 2}])
def test_turns_are_well_formed(agent_cls: type, env_kwargs: dict) -> None:
    env = VRJudgeEnv(dataset_kwargs={"n": 4}, **env_kwargs)
    agent = agent_cls()
    for index in range(4):
        obs, info = env.reset(options={"pair_index": index, "swap": bool(index % 2)})
        agent.reset()
        done = False
        while not done:
            text = agent.act(obs, info)
            assert parse_turn(text).format_ok, parse_turn(text).format_problems
            obs, _, terminated, truncated, info = env.step(text)
            assert info["invalid_reason"] is None
            done = terminated or truncated
        assert terminated and info["reward_components"]["format"] == 1.0
        expected_calls = env.config.max_tool_calls if agent_cls is ScannerAgent else 0
        assert info["tool_calls"] == expected_calls


def test_scanner_fetches_matched_positions_in_both_videos() -> None:
    env = VRJudgeEnv(dataset_kwargs={"n": 1})
    agent = ScannerAgent()
    obs, info = env.reset(options={"pair_index": 0})
    agent.reset()
    fetched: list[int] = []
    while True:
        text = agent.act(obs, info)
        call = parse_turn(text).tool_call
        obs, _, terminated, _, info = env.step(text)
        if call is None:
            break
        assert call.frames is not None and len(call.frames) == 8
        fetched.extend(call.frames)
    assert terminated and len(agent.notes) == 8 + 24  # it kept notes of evicted frames too
    first, second = [f for f in fetched if f <= 48], [f - 48 for f in fetched if f > 48]
    assert first == second and len(set(first)) == 12


def test_random_agent_is_seeded_per_episode() -> None:
    a, b = RandomAgent(seed=1), RandomAgent(seed=1)
    a.reset(seed=5)
    b.act({}, {})  # a different history...
    b.reset(seed=5)  # ...then the same episode seed: the same answer
    assert a.act({}, {}) == b.act({}, {})
    answers = {RandomAgent(seed=s).act({}, {}) for s in range(6)}
    assert len(answers) > 1 and all(parse_turn(t).answer.is_complete for t in answers)


def test_scanner_clearly_beats_answer_now_on_synthetic() -> None:
    env_kwargs = {"dataset_kwargs": {"n": 60}}
    scanner = evaluate("scanner", env_kwargs, limit=60, progress=False)
    now = evaluate("answer-now", env_kwargs, limit=60, progress=False)
    assert scanner["tau"] >= 0.9 and scanner["tau"] >= now["tau"] + 0.25
    for dim in ("TA", "VQ", "MQ"):
        assert scanner["per_dimension"][dim] >= now["per_dimension"][dim] + 0.15
    assert scanner["invalid_turn_rate"] == 0.0 and scanner["tool_calls_mean"] == 3.0
    assert scanner["frames_fetched_mean"] == 24.0 and now["tool_calls_mean"] == 0.0
