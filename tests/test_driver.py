"""The one episode driver: continuous batching, typed records, data errors versus judge errors."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from vr_env.data.base import PairDataset, load_dataset
from vr_env.data.records import VideoRef
from vr_env.driver import Decision, EpisodeResult, Job, TurnResult, drive
from vr_env.env import VRJudgeEnv

FINAL = "<Snapshot>-</Snapshot><Think>-</Think><Answer>TA=0, VQ=0, MQ=0, OA=0</Answer>"
CALL = (
    "<Snapshot>-</Snapshot><Think>-</Think><Recommend Answer>TA=0, VQ=0, MQ=0, OA=0, CF=2</Recommend Answer>"
    '<tool_call>{"name": "select_frames", "arguments": {"target_frames": [3]}}</tool_call>'
)
SMALL = {"frames_per_video": 16, "max_tool_calls": 2}


class ScriptedBatch:
    """A batch policy: episode of pair i makes ``i % 3`` tool calls, then answers; records batch sizes."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    def act_batch(self, observations: list[Any], infos: list[dict[str, Any]]) -> list[Any]:
        self.batches.append([int(i["pair_index"]) for i in infos])
        out = []
        for info in infos:
            text = CALL if info["tool_calls"] < info["pair_index"] % 3 else FINAL
            out.append(Decision(text, output={"pair": info["pair_index"], "turn": info["turn"]}))
        return out


def envs(n: int, dataset: PairDataset | None = None) -> list[VRJudgeEnv]:
    data = dataset or load_dataset("synthetic", n=8, frames_per_video=16)
    return [VRJudgeEnv(dataset=data, **SMALL) for _ in range(n)]


def test_continuous_batching_refills_slots_and_reports_every_turn() -> None:
    policy = ScriptedBatch()
    turns: list[TurnResult] = []
    episodes: list[EpisodeResult] = []
    jobs = [Job(i, seed=i, index=i) for i in range(6)]
    stats = drive(envs(2), policy, jobs, on_turn=turns.append, on_episode=episodes.append)
    # Pair i takes (i % 3) + 1 turns: 1, 2, 3, 1, 2, 3 = 12 turns.
    assert stats.turns == len(turns) == 12 and stats.episodes == 6 and stats.skipped == 0
    assert all(len(batch) <= 2 for batch in policy.batches)
    assert sum(len(b) for b in policy.batches) == 12 and stats.policy_calls == len(policy.batches) < 12
    assert policy.batches[0] == [0, 1] and policy.batches[1] == [2, 1]  # pair 0 ended: its slot took pair 2
    by_pair = {e.job.pair_index: e for e in episodes}
    assert sorted(by_pair) == list(range(6))
    for pair, episode in by_pair.items():
        assert episode.ok and episode.terminated and episode.turns == pair % 3 + 1 and episode.tool_calls == pair % 3
        assert episode.used_tool == (pair % 3 > 0) and set(episode.reward_components) >= {"format", "accuracy"}
    for turn in turns:
        assert turn.output == {"pair": turn.job.pair_index, "turn": turn.turn}
        assert turn.context_info["turn"] == turn.turn and turn.context_info["context"] is not None
        assert turn.info["turn"] == turn.turn + 1


def test_data_errors_skip_the_pair_and_judge_errors_are_scored() -> None:
    records = list(load_dataset("synthetic", n=4, frames_per_video=16))
    records[1] = replace(records[1], video_2=VideoRef("/nowhere/missing.mp4"))
    dataset = PairDataset(records, name="with-missing")
    episodes: list[EpisodeResult] = []

    def judge(observation: Any, info: dict[str, Any]) -> str:
        return "no protocol at all" if info["pair_index"] == 2 else FINAL

    drive(envs(2, dataset), [judge, judge], [Job(i) for i in range(4)], on_episode=episodes.append)
    by_pair = {e.job.pair_index: e for e in episodes}
    assert sorted(by_pair) == [0, 1, 2, 3]
    skipped = by_pair[1]
    assert skipped.status == "skipped" and "missing.mp4" in (skipped.reason or "") and skipped.turns == 0
    garbled = by_pair[2]  # the judge's fault: played to the end, penalized, never skipped
    assert garbled.ok and garbled.truncated and garbled.invalid_turns == 3 and garbled.final_answer is None
    assert garbled.total_reward < 0 and garbled.reward_components["format"] == 0.0


def test_policy_bugs_propagate_and_wrong_batch_sizes_are_named() -> None:
    class Broken:
        def act_batch(self, observations: list[Any], infos: list[Any]) -> list[str]:
            raise RuntimeError("bug in the policy")

    with pytest.raises(RuntimeError, match="bug in the policy"):
        drive(envs(1), Broken(), [Job(0)])

    class Short:
        def act_batch(self, observations: list[Any], infos: list[Any]) -> list[str]:
            return [FINAL]

    with pytest.raises(ValueError, match="1 actions for 2 episodes"):
        drive(envs(2), Short(), [Job(0), Job(1)])


def test_per_slot_agents_are_reset_with_the_episode_seed() -> None:
    seen: list[tuple[int, int | None]] = []

    class Agent:
        def __init__(self, slot: int) -> None:
            self.slot = slot

        def reset(self, seed: int | None = None) -> None:
            seen.append((self.slot, seed))

        def act(self, observation: Any, info: Any) -> str:
            return FINAL

    drive(envs(2), [Agent(0), Agent(1)], [Job(i, seed=100 + i) for i in range(3)])
    assert sorted(s for _, s in seen) == [100, 101, 102] and {slot for slot, _ in seen} == {0, 1}


def test_jobs_are_pulled_lazily() -> None:
    pulled: list[int] = []

    def jobs():
        for i in range(4):
            pulled.append(i)
            yield Job(i)

    results: list[EpisodeResult] = []
    drive(envs(1), [lambda obs: FINAL], jobs(), on_episode=results.append)
    assert pulled == [0, 1, 2, 3] and [r.job.pair_index for r in results] == [0, 1, 2, 3]
