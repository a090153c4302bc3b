"""The runner: resume, torn last lines, skipped pairs, slots and agents, config checks."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from agents.baselines import AnswerNowAgent, RandomAgent
from vr_env.data.base import PairDataset
from vr_env.data.records import VideoRef
from vr_env.eval import EvalConfigError, evaluate
from vr_env.eval.runner import ResultsFile

SMALL = {"dataset_kwargs": {"n": 12}, "frames_per_video": 16}


class CountingAgent(AnswerNowAgent):
    """Answer-now, counting the episodes it is asked to play by the prompt it sees."""

    def __init__(self, counter: Counter) -> None:
        super().__init__()
        self.counter = counter

    def act(self, observation: Any, info: Any) -> str:
        self.counter[info["pair_index"]] += 1
        return super().act(observation, info)


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_resume_does_not_rerun_finished_pairs(tmp_path: Path) -> None:
    calls: Counter = Counter()
    first = evaluate(CountingAgent(calls), SMALL, limit=5, out_dir=tmp_path, progress=False, plots=False)
    assert first["n"] == 5 and sorted(calls) == [0, 1, 2, 3, 4]
    calls.clear()
    second = evaluate(CountingAgent(calls), SMALL, limit=10, out_dir=tmp_path, progress=False, plots=False)
    assert sorted(calls) == [5, 6, 7, 8, 9]  # the first five were not played again
    assert second["n"] == 10 and len(lines(tmp_path / "results.jsonl")) == 10
    calls.clear()
    again = evaluate(CountingAgent(calls), SMALL, limit=3, out_dir=tmp_path, progress=False, plots=False)
    assert not calls and again["n"] == 3  # metrics cover the selected pairs only


def test_torn_last_line_is_dropped_and_that_pair_rerun(tmp_path: Path) -> None:
    evaluate(CountingAgent(Counter()), SMALL, limit=4, out_dir=tmp_path, progress=False, plots=False)
    results = tmp_path / "results.jsonl"
    text = results.read_text().splitlines(keepends=True)
    results.write_text("".join(text[:3]) + text[3][: len(text[3]) // 2])  # killed while writing pair 3
    calls: Counter = Counter()
    with pytest.warns(UserWarning, match="incomplete last line"):
        metrics = evaluate(CountingAgent(calls), SMALL, limit=4, out_dir=tmp_path, progress=False, plots=False)
    assert sorted(calls) == [3] and metrics["n"] == 4
    rows = lines(results)
    assert [r["pair_index"] for r in rows] == [0, 1, 2, 3]


def test_results_file_keeps_complete_rows_and_skips_garbage(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    path.write_text('{"pair_index": 0, "swapped": false}\nnot json\n{"pair_index": 1, "swapped": true}')
    with pytest.warns(UserWarning, match="unreadable line 2"):
        rows = ResultsFile(path).load()
    assert sorted(rows) == ["0:0", "1:1"] and path.read_text().endswith("\n")


def test_missing_video_is_skipped_with_its_reason(tmp_path: Path, pairs: PairDataset) -> None:
    missing = tmp_path / "gone.mp4"
    records = list(pairs)
    records[1] = replace(records[1], video_2=VideoRef(str(missing), fps=24.0, num_frames=96))
    dataset = PairDataset(records, name="with-a-hole")
    metrics = evaluate(AnswerNowAgent(), {"dataset": dataset}, out_dir=tmp_path / "out", progress=False, plots=False)
    assert metrics["n"] == len(records) - 1 and metrics["skipped"] == 1
    skipped = [r for r in lines(tmp_path / "out" / "results.jsonl") if r["status"] == "skipped"]
    assert len(skipped) == 1 and skipped[0]["pair_index"] == 1
    assert "gone.mp4" in skipped[0]["reason"] and "not found" in skipped[0]["reason"]
    assert "Skipped (1)" in (tmp_path / "out" / "report.md").read_text()


def test_slots_and_order_do_not_change_results() -> None:
    one = evaluate("random", SMALL, limit=8, swap_check=True, progress=False, seed=3)
    four = evaluate("random", SMALL, limit=8, swap_check=True, progress=False, seed=3, num_envs=4)
    assert one == four and one["swap_pairs"] == 8
    assert evaluate("random", SMALL, limit=8, progress=False, seed=4)["tau"] is not None


def test_plain_callable_and_batched_agents() -> None:
    def always_tie(observation: Any) -> str:
        return "<Snapshot>-</Snapshot><Think>-</Think><Answer>TA=0, VQ=0, MQ=0, OA=0</Answer>"

    metrics = evaluate(always_tie, SMALL, limit=6, progress=False)
    assert metrics["tau"] == metrics["reference"]["always-tie"]["tau"]
    assert metrics["agent"].endswith("always_tie") and metrics["format_ok_rate"] == 1.0

    class Batched:
        def __init__(self) -> None:
            self.batches: list[int] = []

        def act(self, observation: Any, info: Any) -> str:
            raise AssertionError("act_batch should be used")

        def act_batch(self, observations: list[Any], infos: list[Any]) -> list[str]:
            self.batches.append(len(observations))
            return [always_tie(o) for o in observations]

    batched = Batched()
    assert evaluate(batched, SMALL, limit=6, num_envs=3, progress=False)["tau"] == metrics["tau"]
    assert batched.batches == [3, 3]
    with pytest.raises(ValueError, match="cannot serve several"):
        evaluate(RandomAgent(), SMALL, limit=2, num_envs=2, progress=False)


def test_resume_refuses_a_different_evaluation(tmp_path: Path) -> None:
    evaluate("answer-now", SMALL, limit=2, out_dir=tmp_path, progress=False, plots=False)
    with pytest.raises(EvalConfigError, match="agent"):
        evaluate("random", SMALL, limit=2, out_dir=tmp_path, progress=False, plots=False)
    metrics = evaluate("random", SMALL, limit=2, out_dir=tmp_path, progress=False, plots=False, overwrite=True)
    assert metrics["agent"] == "random" and len(lines(tmp_path / "results.jsonl")) == 2
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["env"]["frames_per_video"] == 16 and config["dataset"] == "synthetic"
