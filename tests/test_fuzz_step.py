"""Issue 8: a small hypothesis profile of ``benchmarks/fuzz_step.py`` — no text breaks ``env.step``."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vr_env.data.base import PairDataset
from vr_env.env import VRJudgeEnv

HEAD = "<Snapshot>s</Snapshot><Think>t</Think><Recommend Answer>TA=1,VQ=2,MQ=0,OA=1,CF=2</Recommend Answer>"
CALL = '<tool_call>{"name": "select_frames", "arguments": %s}</tool_call>'
NUMBER = st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "-1", "0", "1.5", "3.0", '"7"', "null", "9" * 4400])
TAG = st.sampled_from(["<Snapshot>", "</Snapshot>", "<Think>", "</think>", "<Answer>", "</Answer>", "<tool_call>",
                       "</tool_call>", "<Recommend Answer>", "</Recommend Answer>", "TA=1", "OA=2", "CF=3", ","])  # fmt: skip

ACTIONS = st.one_of(
    st.text(max_size=200),
    st.lists(st.one_of(TAG, st.text(max_size=5)), max_size=30).map("".join),
    st.lists(NUMBER, max_size=5).map(lambda xs: HEAD + CALL % ('{"target_frames": [' + ", ".join(xs) + "]}")),
    st.lists(NUMBER, max_size=5).map(lambda xs: HEAD + CALL % json.dumps({"target_frames": f"[{', '.join(xs)}]"})),
    st.tuples(st.sampled_from(["[", "{", '{"a":']), st.integers(1, 100_000)).map(
        lambda t: HEAD + CALL % json.dumps({"target_frames": t[0] * t[1]})
    ),
    st.lists(st.integers(-(10**30), 10**30), max_size=10).map(
        lambda xs: HEAD + CALL % json.dumps({"target_frames": xs})
    ),
)


@pytest.fixture(scope="module")
def env() -> VRJudgeEnv:
    from tests.conftest import make_pairs

    dataset: PairDataset = make_pairs(3)
    return VRJudgeEnv(dataset=dataset, frames_per_video=16, max_tool_calls=2)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(ACTIONS, min_size=1, max_size=4))
def test_no_generated_turn_breaks_a_step(env: VRJudgeEnv, actions: list[str]) -> None:
    env.reset(seed=0, options={"pair_index": 0})
    for action in actions:
        _, reward, terminated, truncated, info = env.step(action)
        assert reward == reward  # finite, not NaN
        roles = [t.role for t in info["context"].turns]
        assert roles.count("assistant") == info["turn"]
        if terminated or truncated:
            break
        assert roles[-1] == "user"
