"""Issue 8, defects 1 and 2: any model text gives a defined turn; a judge's bad output is scored.

A bad turn is the judge's fault: it is penalised (an invalid turn) and the pair stays in the scores;
only data errors skip pairs. Checked at the env, ``evaluate`` and ``RolloutEngine`` levels.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from agents.backends.base import Generation, GenerationSettings
from agents.rollout import RolloutEngine
from vr_env.data.base import PairDataset
from vr_env.env import VRJudgeEnv
from vr_env.eval import evaluate

HEAD = "<Snapshot>s</Snapshot><Think>t</Think><Recommend Answer>TA=1,VQ=1,MQ=1,OA=1,CF=2</Recommend Answer>"
CALL = '<tool_call>{"name": "select_frames", "arguments": %s}</tool_call>'
DEEP = "[" * 100_000
BAD_TURNS = [
    HEAD + CALL % '{"target_frames": [NaN]}',
    HEAD + CALL % '{"target_frames": [Infinity, 2]}',
    HEAD + CALL % '{"target_frames": [1e400]}',
    HEAD + CALL % '{"target_frames": "[1e400]"}',
    HEAD + CALL % ('{"target_frames": "' + DEEP + '"}'),
    HEAD + CALL % ('"' + DEEP + '"'),
    HEAD + CALL % ('{"target_frames": [-' + "9" * 4000 + "]}"),
    "<answer>" * 2000,
    "\x00\ud800" * 10,
    "",
]
FINAL = "<Snapshot>s</Snapshot><Think>t</Think><Answer>TA=1,VQ=2,MQ=0,OA=1</Answer>"


def _consistent(env: VRJudgeEnv, info: dict[str, Any]) -> None:
    context = info["context"]
    assistant = [t for t in context.turns if t.role == "assistant"]
    assert len(assistant) == info["turn"]
    # every assistant turn that did not end the episode is answered by a user turn
    roles = [t.role for t in context.turns]
    for i, role in enumerate(roles[:-1]):
        if role == "assistant":
            assert roles[i + 1] == "user"


@pytest.mark.parametrize("text", BAD_TURNS, ids=range(len(BAD_TURNS)))
def test_any_text_gives_a_defined_turn_and_a_consistent_context(pairs: PairDataset, text: str) -> None:
    env = VRJudgeEnv(dataset=pairs)
    env.reset(seed=0, options={"pair_index": 0})
    _, reward, terminated, truncated, info = env.step(text)
    assert not terminated and not truncated
    assert info["invalid_reason"] and info["invalid_turns"] == 1 and info["env_error"] is None
    assert reward == -env.config.reward.invalid_turn_penalty
    _consistent(env, info)
    assert info["context"].turns[-1].role == "user" and info["context"].turns[-1].text.startswith("Error:")
    _, _, terminated, _, info = env.step(FINAL)  # the episode goes on normally
    assert terminated and info["final_answer"] == {"TA": 1, "VQ": 2, "MQ": 0, "OA": 1}


def test_an_unexpected_failure_while_acting_is_an_invalid_turn(pairs: PairDataset, monkeypatch) -> None:
    env = VRJudgeEnv(dataset=pairs)
    env.reset(seed=0, options={"pair_index": 0})
    monkeypatch.setattr("vr_env.env.select_frames", lambda *a: 1 / 0)
    _, _, terminated, _, info = env.step(HEAD + CALL % '{"target_frames": [1]}')
    assert not terminated and "could not be carried out" in info["invalid_reason"]
    _consistent(env, info)


class BadThenFinal:
    """An eval agent whose first turn is adversarial and whose second is a final answer."""

    def __init__(self, bad: str) -> None:
        self.bad = bad

    def act(self, observation: Any, info: dict[str, Any]) -> str:
        return self.bad if info["turn"] == 0 else FINAL


@pytest.mark.parametrize("bad", BAD_TURNS[:7], ids=range(7))
def test_evaluate_scores_a_judge_error_instead_of_skipping(pairs: PairDataset, bad: str) -> None:
    metrics = evaluate(BadThenFinal(bad), {"dataset": pairs}, limit=3, progress=False, plots=False)
    assert metrics["skipped"] == 0 and metrics["n"] == 3
    assert metrics["invalid_turn_rate"] == pytest.approx(0.5)  # one bad turn out of two, per pair


class CannedBackend:
    """A generation backend that writes fixed texts: ``texts[episode_in_batch][turn]``."""

    def __init__(self, texts: Sequence[str]) -> None:
        self.texts = list(texts)
        self.calls = 0

    def generate(self, conversations: Sequence[Any], settings: GenerationSettings) -> list[Generation]:
        self.calls += 1
        return [Generation(text=self.texts[(i + self.calls) % len(self.texts)]) for i in range(len(conversations))]


def test_one_bad_generation_does_not_break_a_rollout_batch(pairs: PairDataset) -> None:
    texts = [FINAL] * 15 + [BAD_TURNS[0]]
    engine = RolloutEngine(
        CannedBackend(texts), lambda: VRJudgeEnv(dataset=pairs, max_tool_calls=1), group_size=8, seed=0
    )
    result = engine.run([0, 1])
    engine.close()
    assert len(result.episodes) == 16 and not result.skipped
    bad = [t for e in result.episodes for t in e.turns if t.text == BAD_TURNS[0]]
    assert bad and all(t.invalid_reason for t in bad)
    assert all(e.terminated or e.truncated for e in result.episodes)
