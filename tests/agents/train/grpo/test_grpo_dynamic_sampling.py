"""DAPO dynamic sampling (drop degenerate groups, refill from new pairs, cap) and truncated-completion masking."""

from __future__ import annotations

from typing import Any

import pytest

from agents.train.dynamic_sampling import SamplingReport, replacement_pairs, swap_flags


def _script(turns: Any) -> Any:
    """On pair 0 the two members answer alike (a degenerate group); elsewhere they differ."""

    def play(episode: int, turn: int, info: dict[str, Any]) -> str:
        if info["pair_index"] == 0 or episode % 2 == 0:
            return turns.final("TA=1, VQ=1, MQ=1, OA=1")
        return turns.final("TA=2, VQ=2, MQ=2, OA=2")

    return play


@pytest.mark.parametrize("rounds", [1, 0])
def test_degenerate_groups_are_refilled_up_to_the_cap(make_trainer: Any, turns: Any, rounds: int) -> None:
    trainer = make_trainer(
        script=_script(turns), pairs=[0, 1], per_device_train_batch_size=4, dynamic_sampling=True,
        max_refill_rounds=rounds, beta=0.0,
    )  # fmt: skip
    trainer.train()
    generation = trainer.last_generation
    report = generation.report
    assert report.groups == 2 and report.dropped_first == 1
    logged = trainer.state.log_history[0]
    assert logged["dynamic_sampling/dropped_share"] == 0.5
    refilled = [e for e in generation.episodes if e.pair_index not in (0, 1)]
    if rounds:
        assert report.refill_rounds == 1 and report.unfilled == 0 and len(refilled) == 2
        assert len({e.pair_index for e in refilled}) == 1  # both members of the group got the same new pair
        assert all(r.weight == 1.0 for r in generation.rows)
        assert logged["dynamic_sampling/unfilled_share"] == 0.0
    else:
        assert report.refill_rounds == 0 and report.unfilled == 1 and not refilled
        dropped = {e.episode for e in generation.episodes if e.pair_index == 0}
        assert all((r.weight == 0.0) == (r.episode in dropped) for r in generation.rows)
        assert logged["dynamic_sampling/unfilled_share"] == 0.5


def test_truncated_completions_are_masked(make_trainer: Any, turns: Any) -> None:
    """Member 0 answers (forced, ends with <|im_end|>); member 1 samples freely and hits the 8-token cap."""
    trainer = make_trainer(
        script=lambda episode, turn, info: turns.final() if episode % 2 == 0 else None,
        pairs=[2],
        mask_truncated_completions=True,
        beta=0.0,
    )
    trainer.train()
    generation = trainer.last_generation
    free = [e for e in generation.episodes if any(t.finish_reason == "length" for t in e.turns)]
    assert len(free) == 1
    for row in generation.rows:
        assert row.weight == (0.0 if row.episode == free[0].episode else 1.0)
    batch = generation.batch
    assert batch["num_items_in_batch"].item() == sum(len(r.completion_ids) for r in generation.rows if r.weight)
    assert trainer.state.log_history[0]["trajectory/length_truncated_rate"] == 0.5


def test_replacement_pairs_are_seeded_and_rank_independent() -> None:
    a = replacement_pairs(3, 100, seed=1, step=5, round_=1)
    assert a == replacement_pairs(3, 100, seed=1, step=5, round_=1)
    assert a != replacement_pairs(3, 100, seed=1, step=5, round_=2)
    assert replacement_pairs(4, 3, seed=0, step=0, round_=1, avoid=[0, 1, 2])  # falls back to every pair
    with pytest.raises(ValueError, match="no pairs"):
        replacement_pairs(1, 0, seed=0, step=0, round_=1)
    flags = swap_flags([4, 4, 9], seed=0, step=3)
    assert set(flags) == {4, 9} and flags == swap_flags([9, 4], seed=0, step=3)
    assert SamplingReport(groups=4, dropped_first=1, unfilled=2).metrics()["dynamic_sampling/unfilled_share"] == 0.5
