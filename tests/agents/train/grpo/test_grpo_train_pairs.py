"""GRPO's difficulty filter: ``train_pairs_from`` keeps the pairs whose recorded samples disagree."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agents.records import save_jsonl
from tests.agents.train.test_pass_rates import sample, samples_file


def test_grpo_trains_only_on_informative_pairs(make_trainer: Any, tmp_path: Path) -> None:
    path = samples_file(tmp_path)
    trainer = make_trainer(train_pairs_from=str(path), eval_pairs=508)  # pairs 4.. held out: only pair 2 is left
    assert trainer.train_pairs == [2]
    assert sorted(set(trainer.train_dataset["pair_index"])) == [2]
    everything = make_trainer(eval_pairs=508)
    assert everything.train_pairs == [0, 1, 2, 3]
    only_uniform = save_jsonl([sample(1, 1.0), sample(1, 1.0)], tmp_path / "uniform.jsonl")
    with pytest.raises(ValueError, match=r"no pair of the environment's 512 .* scored different accuracies"):
        make_trainer(train_pairs_from=str(only_uniform))
