"""Difficulty filter: the pairs whose recorded samples disagree on accuracy, read from samples.jsonl."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.records import EpisodeRecord, save_jsonl
from agents.train.pass_rates import PassRate, informative_pairs, pass_rates


def sample(pair: int, accuracy: float | None) -> EpisodeRecord:
    components = {} if accuracy is None else {"accuracy": accuracy, "format": 1.0}
    return EpisodeRecord(
        episode=0, group=0, pair_index=pair, pair_id=f"p{pair}", swapped=False, seed=None, reward_components=components
    )


def samples_file(tmp_path: Path) -> Path:
    samples = [sample(1, 1.0), sample(1, 1.0), sample(2, 1.0), sample(2, 0.5), sample(3, 0.0), sample(3, 0.0)]
    samples += [sample(4, None), sample(4, 0.25), sample(5, 0.75)]  # no answer counts as 0; one sample is no group
    path = save_jsonl(samples, tmp_path / "samples.jsonl")
    with path.open("a", encoding="utf-8") as handle:
        handle.write("not json\n")  # a broken line is skipped (load_jsonl reports it)
    return path


def test_pass_rates_and_informative_pairs_from_a_file(tmp_path: Path) -> None:
    path = samples_file(tmp_path)
    rates = pass_rates(path)
    assert rates[1] == PassRate(2, (1.0,)) and rates[2] == PassRate(2, (0.5, 1.0))
    assert rates[4] == PassRate(2, (0.0, 0.25)) and rates[5] == PassRate(1, (0.75,))
    assert informative_pairs(path) == [2, 4]
    assert informative_pairs(path, exclude=[4]) == [2]
    assert informative_pairs(tmp_path) == [2, 4]  # a folder: every *.jsonl in it


def test_an_empty_or_unreadable_file_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"no sample records in .*1 unreadable lines"):
        informative_pairs(bad)
