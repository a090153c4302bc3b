"""The batched rollout engine and its records: exact ids, replayable log-probs, env feedback."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from agents.backends import GenerationSettings
from agents.backends.transformers_backend import TransformersBackend, forward_logprobs
from agents.records import EpisodeRecord, contains_run, save_jsonl, turn_model_inputs
from agents.rollout import RolloutEngine, RolloutResult, Script

SETTINGS = GenerationSettings(max_new_tokens=6)


@pytest.fixture(scope="module")
def script(turns: SimpleNamespace) -> Script:
    """Episode 0 of each group of 3: two tool calls then a final answer; episode 1: answers at once;
    episode 2: samples freely (random text, never valid)."""

    def play(episode: int, turn: int, info: dict[str, Any]) -> str | None:
        member = episode % 3
        if member == 0:
            return [turns.tool([1, 2, 20]), turns.tool([5, 30]), turns.final()][turn]
        if member == 1:
            return turns.final("TA=2, VQ=2, MQ=2, OA=2")
        return None

    return play


@pytest.fixture(scope="module")
def rollout(tiny_backend: TransformersBackend, turns: SimpleNamespace, script: Script) -> RolloutResult:
    engine = RolloutEngine(
        tiny_backend, env_kwargs=turns.env_kwargs, group_size=3, settings=SETTINGS, seed=11, script=script
    )
    result = engine.run([0, 5])
    engine.close()
    return result


def test_groups_share_their_pair(rollout: RolloutResult) -> None:
    groups = rollout.groups()
    assert sorted(groups) == [0, 1] and all(len(g) == 3 for g in groups.values())
    assert {e.pair_index for e in groups[0]} == {0} and {e.pair_index for e in groups[1]} == {5}
    assert len({e.pair_id for e in groups[0]}) == 1 and groups[0][0].pair_id != groups[1][0].pair_id
    assert not any(e.swapped for e in rollout.episodes)


def test_episode_outcomes(rollout: RolloutResult, turns: SimpleNamespace) -> None:
    tool_user, direct, free = rollout.episodes[:3]
    assert [t.forced for t in tool_user.turns] == [True, True, True] and tool_user.terminated
    assert tool_user.tool_calls == 2 and tool_user.used_tool and tool_user.frames_fetched == 5
    assert tool_user.final_answer == {"TA": 1, "VQ": 1, "MQ": 0, "OA": 1}
    assert set(tool_user.reward_components) >= {"format", "accuracy", "cot_gain", "total"}
    assert tool_user.reward_components["format"] == 1.0
    assert tool_user.total_reward == pytest.approx(sum(t.reward for t in tool_user.turns))
    assert len(direct.turns) == 1 and direct.terminated and not direct.used_tool
    assert len(free.turns) == turns.env_kwargs["max_tool_calls"] + 1 and free.truncated and not free.terminated
    assert all(t.invalid_reason for t in free.turns) and free.final_answer is None
    assert all(len(t.completion_ids) <= SETTINGS.max_new_tokens for t in free.turns)
    # R = 1/3 used a tool in each group, above omega = 0.2: no exploration bonus.
    assert all(e.exploration == 0.0 for e in rollout.episodes)
    labels = tool_user.labels
    assert tool_user.correct == all(tool_user.final_answer[k] == v for k, v in labels.items() if v is not None)


def test_sampled_ids_reappear_verbatim_in_the_next_context(
    rollout: RolloutResult, tiny_backend: TransformersBackend
) -> None:
    tokenizer = tiny_backend.tokenizer
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    episode = rollout.episodes[0]
    for turn, following in zip(episode.turns, episode.turns[1:], strict=False):
        ids = turn.completion_ids
        assert ids[-1] == im_end and turn.finish_reason == "stop"
        decoded = tokenizer.decode(ids[:-1], skip_special_tokens=False)
        assert decoded == turn.text
        # Re-rendering the next context re-encodes this assistant turn to exactly the sampled ids.
        header = tokenizer.encode("<|im_start|>assistant\n", add_special_tokens=False)
        assert contains_run(following.prompt_ids, header + ids)
        assert turn.retokenized_exact is True
        # The recorded prompt is exactly what rendering the recorded context gives.
        assert tiny_backend.encode([following.messages()])["input_ids"][0].tolist() == following.prompt_ids
    assert episode.turns[-1].retokenized_exact is None


def test_memory_window_is_what_the_policy_saw(rollout: RolloutResult, tiny_backend: TransformersBackend) -> None:
    first, second, third = rollout.episodes[0].turns
    image_id = tiny_backend.image_token_id
    merge = tiny_backend.processor.image_processor.merge_size**2
    for turn in (first, second, third):
        assert len(turn.image_grid_thw) == len(turn.images()) == len(turn.frames)
        assert turn.prompt_ids.count(image_id) == int(np.prod(turn.image_grid_thw, axis=1).sum()) // merge
    assert [f.frame_id for f in second.frames][8:] == [1, 2, 20]
    # p = 1: after the second call the first call's frames are evicted (text only).
    assert [f.frame_id for f in third.frames][8:] == [5, 30]
    assert len(third.frames) == 8 + 2 and len(second.frames) == 8 + 3


def replay(backend: TransformersBackend, turns: list[Any]) -> list[Any]:
    """Log-probs of the sampled ids, one forward pass per sampling temperature (each turn records its own)."""
    out: list[Any] = [None] * len(turns)
    for temperature in sorted({t.temperature for t in turns}):
        index = [i for i, t in enumerate(turns) if t.temperature == temperature]
        subset = [turns[i] for i in index]
        inputs = turn_model_inputs(subset, backend.processor)
        values = forward_logprobs(backend.model, inputs, [len(t.completion_ids) for t in subset], temperature)
        for i, v in zip(index, values, strict=True):
            out[i] = v
    return out


def test_logprobs_replay_with_one_forward_pass(rollout: RolloutResult, tiny_backend: TransformersBackend) -> None:
    turns = rollout.turns()
    assert {t.temperature for t in turns} == {1.0, 0.9}  # the paper's 0.9 after the first turn
    replayed = replay(tiny_backend, turns)
    for turn, values in zip(turns, replayed, strict=True):
        assert len(values) == len(turn.logprobs)
        np.testing.assert_allclose(values, turn.logprobs, atol=1e-5)


def test_sequential_and_batched_agree_on_scripted_turns(
    tiny_backend: TransformersBackend, rollout: RolloutResult, turns: SimpleNamespace, script: Script
) -> None:
    engine = RolloutEngine(
        tiny_backend, env_kwargs=turns.env_kwargs, group_size=3, settings=SETTINGS, seed=11, script=script
    )
    sequential = engine.run([0], batched=False)
    assert sequential.generate_calls == 3 + 1 + 3 and rollout.generate_calls == 3
    for alone, batched in zip(sequential.episodes[:2], rollout.episodes[:2], strict=True):
        assert [t.completion_ids for t in alone.turns] == [t.completion_ids for t in batched.turns]
        assert [t.prompt_ids for t in alone.turns] == [t.prompt_ids for t in batched.turns]
        for a, b in zip(alone.turns, batched.turns, strict=True):
            np.testing.assert_allclose(a.logprobs, b.logprobs, atol=1e-5)
        assert alone.reward_components == batched.reward_components


def test_records_serialize(rollout: RolloutResult, tmp_path: Any) -> None:
    path = save_jsonl(rollout.episodes, tmp_path / "rollout.jsonl")
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(rows) == 6
    turn = rows[0]["turns"][1]
    assert turn["frames"][8] == {"frame_id": 1, "video": 1, "position": 0, "height": 112, "width": 112}
    assert turn["completion_ids"] == rollout.episodes[0].turns[1].completion_ids
    assert rows[0]["score"] == rollout.episodes[0].score
    assert rollout.stats["episodes"] == 6 and rollout.stats["retokenized_exact_rate"] is not None


def test_exploration_bonus_is_group_level(tiny_backend: TransformersBackend, turns: SimpleNamespace) -> None:
    def one_tool_user(episode: int, turn: int, info: dict[str, Any]) -> str:
        return turns.tool([3]) if episode == 0 and turn == 0 else turns.final()

    engine = RolloutEngine(
        tiny_backend, env_kwargs=turns.env_kwargs, group_size=6, settings=SETTINGS, script=one_tool_user
    )
    result = engine.run([1])
    bonus = [e.exploration for e in result.episodes]
    assert bonus[0] == pytest.approx(0.5 * (0.2 - 1 / 6)) and bonus[1:] == [0.0] * 5
    assert result.episodes[0].score == pytest.approx(result.episodes[0].total_reward + bonus[0])


def test_script_needs_a_forcing_backend(script: Script) -> None:
    class TextOnly:
        def generate(self, conversations: Any, settings: Any) -> list[Any]:
            return []

    with pytest.raises(TypeError, match="force ids"):
        RolloutEngine(TextOnly(), script=script)


def test_episode_record_correct_needs_all_labelled_keys() -> None:
    record = EpisodeRecord(0, 0, 0, "p", False, 0, labels={"TA": 1, "VQ": None, "MQ": 0, "OA": 2})
    assert not record.correct
    record.final_answer = {"TA": 1, "VQ": 2, "MQ": 0, "OA": 2}
    assert record.correct
    record.final_answer = {"TA": 1, "VQ": 2, "MQ": 1, "OA": 2}
    assert not record.correct


def test_qwen3_vl_records_replay(tiny_qwen3_backend: TransformersBackend, turns: SimpleNamespace) -> None:
    def two_turns(episode: int, turn: int, info: dict[str, Any]) -> str | None:
        return turns.tool([4, 17]) if turn == 0 else (turns.final() if episode == 0 else None)

    engine = RolloutEngine(
        tiny_qwen3_backend, env_kwargs=turns.env_kwargs, group_size=2, settings=SETTINGS, script=two_turns
    )
    result = engine.run([3])
    records = result.turns()
    assert [len(e.turns) for e in result.episodes] == [2, 3] and records[0].retokenized_exact is True
    replayed = replay(tiny_qwen3_backend, records)
    for turn, values in zip(records, replayed, strict=True):
        np.testing.assert_allclose(values, turn.logprobs, atol=1e-5)


def test_unreadable_pair_skips_its_group_not_the_rollout(
    tiny_backend: TransformersBackend, turns: SimpleNamespace, script: Script
) -> None:
    from dataclasses import replace

    from vr_env.data.base import PairDataset, load_dataset
    from vr_env.data.records import VideoRef

    records = list(load_dataset("synthetic", n=4))
    records[1] = replace(records[1], video_1=VideoRef("/nowhere/missing.mp4"))
    dataset = PairDataset(records, name="with-missing")
    engine = RolloutEngine(
        tiny_backend,
        env_kwargs={**turns.env_kwargs, "dataset": dataset},
        group_size=2,
        settings=SETTINGS,
        seed=0,
        script=script,
    )
    result = engine.run([0, 1, 2])
    engine.close()
    assert [s["pair_index"] for s in result.skipped] == [1] and "/nowhere/missing.mp4" in result.skipped[0]["reason"]
    assert sorted({e.pair_index for e in result.episodes}) == [0, 2] and len(result.episodes) == 4
