"""Rejection sampling: acceptance, duplicates, cap, report, and SFT on the sampled ids themselves."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from agents.records import load_jsonl
from agents.train.config import RejectionConfig, SFTRunConfig
from agents.train.rejection import sample_accepted, train_rs

ENV = {"frames_per_video": 16, "max_tool_calls": 2, "dataset_kwargs": {"n": 8}}


def _answer(labels: dict[str, int], wrong: str | None = None) -> str:
    values = {k: (v + 1) % 3 if k == wrong else v for k, v in labels.items()}
    return ", ".join(f"{k}={values[k]}" for k in ("TA", "VQ", "MQ", "OA"))


@pytest.fixture(scope="module")
def rs_run(tiny_model_dir: Path, turns: SimpleNamespace, tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """4 samples per pair on 2 pairs. Members 0 and 1 answer right identically (a duplicate), member 2 is
    right after a tool call, member 3 is wrong on MQ; pair 1's member 2 samples freely (never valid)."""
    from vr_env.data.base import load_dataset

    labels = {i: dict(load_dataset("synthetic", n=8)[i].labels) for i in (0, 1)}

    def script(episode: int, turn: int, info: dict[str, Any]) -> str | None:
        pair, member = divmod(episode, 4)
        if member in (0, 1):
            return turns.final(_answer(labels[pair]))
        if member == 2:
            if pair == 1:
                return None
            return [turns.tool([2, 20]), turns.final(_answer(labels[pair]))][turn]
        return turns.final(_answer(labels[pair], wrong="MQ"))

    out = tmp_path_factory.mktemp("rs")
    config = RejectionConfig(samples_per_pair=4, max_per_pair=2, limit=2, max_new_tokens=8)
    report = sample_accepted(tiny_model_dir, ENV, out, config, device="cpu", verbose=False, script=script)
    return SimpleNamespace(report=report, out=out, labels=labels)


def test_acceptance_report(rs_run: SimpleNamespace) -> None:
    report = rs_run.report
    assert (report.pairs, report.samples) == (2, 8)
    # pair 0: member 0 accepted, member 1 duplicate, member 2 accepted, member 3 wrong MQ.
    # pair 1: member 0 accepted, member 1 duplicate, member 2 malformed, member 3 wrong MQ.
    assert report.accepted == 3 and report.duplicates == 2 and report.pairs_without_accepted == []
    assert report.rejected["wrong MQ"] == 2 and report.rejected["duplicate"] == 2
    data = json.loads((rs_run.out / "rs_report.json").read_text())
    assert data["acceptance_rate"] == pytest.approx(3 / 8)
    assert data["dimension_accuracy"]["MQ"] == pytest.approx(5 / 8) and data["dimension_accuracy"]["TA"] == 7 / 8
    accepted = load_jsonl(rs_run.out / "accepted.jsonl").episodes
    assert len(accepted) == 3 and all(e.meta["accepted"] and e.env is not None for e in accepted)
    assert all(t.completion_ids and t.logprobs for e in accepted for t in e.turns)
    assert len(load_jsonl(rs_run.out / "samples.jsonl").episodes) == 8


def test_a_rerun_skips_sampled_pairs(rs_run: SimpleNamespace, tiny_model_dir: Path) -> None:
    config = RejectionConfig(samples_per_pair=4, max_per_pair=2, limit=2, max_new_tokens=8)
    again = sample_accepted(tiny_model_dir, ENV, rs_run.out, config, device="cpu", verbose=False)
    assert again.samples == 8 and again.accepted == 3  # nothing sampled twice
    assert len(load_jsonl(rs_run.out / "samples.jsonl").episodes) == 8


def test_sft_on_accepted_learns_the_sampled_ids(rs_run: SimpleNamespace, tiny_model_dir: Path, tmp_path: Path) -> None:
    from agents.train.sft import load_and_replay, load_model, turn_examples

    episodes, problems = load_and_replay(rs_run.out / "accepted.jsonl")
    assert not problems
    _, processor = load_model(tiny_model_dir, SFTRunConfig())
    examples = turn_examples(episodes, processor)
    assert examples.recorded_ids == len(examples.turns) == 4 and not examples.problems
    assert [t.completion_ids for t in examples.turns] == [t.completion_ids for e in episodes for t in e.turns]


def test_nothing_accepted_is_a_clear_error(tiny_model_dir: Path, tmp_path: Path) -> None:
    config = RejectionConfig(samples_per_pair=2, limit=1, max_new_tokens=4)
    with pytest.raises(ValueError, match="no sample was accepted"):
        train_rs(tiny_model_dir, ENV, tmp_path, config, SFTRunConfig(max_steps=1), device="cpu", verbose=False)
    report = json.loads((tmp_path / "samples" / "rs_report.json").read_text())
    assert report["samples"] == 2 and report["pairs_without_accepted"] == [0]
