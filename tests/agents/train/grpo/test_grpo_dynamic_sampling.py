"""DAPO dynamic sampling (drop degenerate groups, refill from new pairs, cap) and truncated-completion masking."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from agents.train.dynamic_sampling import SamplingReport, replacement_pairs, swap_flags
from tests.agents.train.grpo.labels import answer_line, pair_labels


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
    first = generation.first_round.episodes
    refilled = [e for e, f in zip(generation.episodes, first, strict=True) if e is not f]
    if rounds:
        assert report.refill_rounds == 1 and report.unfilled == 0 and len(refilled) == 2
        # Both members of the group got the same new pair: a training pair, not the dropped group's own.
        assert {e.pair_index for e in refilled} == {1}
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
    assert a == replacement_pairs(3, list(range(100))[::-1], seed=1, step=5, round_=1)  # a pool is sorted first
    drawn = replacement_pairs(2, [7, 3, 9, 3], seed=2, step=0, round_=1, avoid=[9])
    assert set(drawn) == {3, 7}  # only pool pairs, the avoided one left out while others remain
    assert set(replacement_pairs(3, [4, 5], seed=0, step=1, round_=1, avoid=[4, 5])) <= {4, 5}
    with pytest.raises(ValueError, match="no pairs"):
        replacement_pairs(1, 0, seed=0, step=0, round_=1)
    flags = swap_flags([4, 4, 9], seed=0, step=3)
    assert set(flags) == {4, 9} and flags == swap_flags([9, 4], seed=0, step=3)
    assert SamplingReport(groups=4, dropped_first=1, unfilled=2).metrics()["dynamic_sampling/unfilled_share"] == 0.5


def test_swap_coins_agree_across_ranks_passing_disjoint_subsets() -> None:
    """A group spanning two ranks: each rank passes only its own pairs, and every coin still agrees."""
    for step in range(50):
        batch = list(range(step, step + 8))
        whole = swap_flags(batch, seed=7, step=step)
        rank0, rank1 = swap_flags(batch[:4], seed=7, step=step), swap_flags(batch[4:], seed=7, step=step)
        assert {**rank0, **rank1} == whole
        spanning = swap_flags([batch[3], batch[6]], seed=7, step=step)  # a pair shared by both ranks
        assert spanning[batch[3]] == rank0[batch[3]] and spanning[batch[6]] == rank1[batch[6]]
    coins = [swap_flags([p], seed=7, step=0)[p] for p in range(64)]
    assert 16 < sum(coins) < 48, "a fair coin per pair"
    changed = [swap_flags([p], seed=7, step=0) != swap_flags([p], seed=7, step=1) for p in range(64)]
    assert 16 < sum(changed) < 48, "the coin is drawn afresh each step"


def _count_rounds(trainer: Any, monkeypatch: pytest.MonkeyPatch, calls: list[Any]) -> list[Any]:
    """Record in ``calls`` the pairs and episodes of each ``_play`` call (round 0, then one per refill round)."""
    play = trainer._play

    def counted(backend: Any, pairs: Any, seed: int) -> Any:
        episodes = play(backend, pairs, seed)
        calls.append(([int(p) for p in pairs], list(episodes)))  # a copy: the trainer replaces refilled slots
        return episodes

    monkeypatch.setattr(trainer, "_play", counted)
    return calls


def test_headline_metrics_are_the_first_round_and_refilled_ones_are_prefixed(
    make_trainer: Any, turns: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Round 0: pair 0's group all right (return 2), pair 1's all wrong (return 1): both degenerate.
    Refills: one member right (2), one with only OA right (1 + 0.5 * 1 = 1.5)."""
    labels: dict[int, dict[str, int]] = {}
    rounds: list[Any] = []

    def script(episode: int, turn: int, info: dict[str, Any]) -> str:
        right = labels.setdefault(info["pair_index"], pair_labels(info["pair_index"]))
        wrong = {k: (v + 1) % 3 for k, v in right.items()}
        if not rounds:  # the first round (recorded once played)
            return turns.final(answer_line(right if info["pair_index"] == 0 else wrong))
        return turns.final(answer_line(right if episode % 2 == 0 else {**wrong, "OA": right["OA"]}))

    trainer = make_trainer(
        script=script, pairs=[0, 1], per_device_train_batch_size=4, dynamic_sampling=True, max_refill_rounds=1,
        beta=0.0,
    )  # fmt: skip
    _count_rounds(trainer, monkeypatch, rounds)
    trainer.train()
    generation = trainer.last_generation
    assert len(rounds) == 2 and generation.report.dropped_first == 2 and generation.report.unfilled == 0
    first_episodes = rounds[0][1]
    assert not any(e.used_tool for e in first_episodes)  # exploration term 0: score = return
    first_scores = [e.total_reward + 0.0 for e in first_episodes]
    assert sorted(first_scores) == [1.0, 1.0, 2.0, 2.0]  # format 1 + accuracy 1 or 0, no CoT gain
    logged = trainer.state.log_history[0]
    assert logged["reward"] == pytest.approx(np.mean(first_scores)) and logged["reward"] == pytest.approx(1.5)
    first = generation.first_round
    assert first.episodes == first_episodes
    np.testing.assert_allclose(first.scores.score, first_scores)
    assert logged["reward_std"] == pytest.approx(0.5)
    assert logged["rewards/accuracy/mean"] == pytest.approx(0.5)
    assert logged["format_rate"] == 1.0 and logged["frac_reward_zero_std"] == 1.0
    refilled_scores = [e.total_reward for e in generation.episodes]
    assert sorted(refilled_scores) == [1.5, 1.5, 2.0, 2.0]
    assert logged["refilled/reward"] == pytest.approx(np.mean(refilled_scores))
    assert logged["refilled/reward"] != pytest.approx(logged["reward"])
    assert logged["refilled/reward_std"] == pytest.approx(0.25)
    assert logged["refilled/rewards/accuracy/mean"] == pytest.approx(0.75)
    assert logged["refilled/format_rate"] == 1.0 and logged["refilled/frac_reward_zero_std"] == 0.0
    assert {e.pair_index for e in generation.episodes} <= {0, 1}  # refills come from the training pairs


@pytest.mark.parametrize(("pairs", "eval_pairs", "pool"), [(None, 510, {0, 1}), ([3, 7], 0, {3, 7})])
def test_refills_play_only_training_pairs(
    make_trainer: Any, turns: Any, monkeypatch: pytest.MonkeyPatch, pairs: Any, eval_pairs: int, pool: set[int]
) -> None:
    """Every group degenerate in every round: three refill rounds, all drawn from the training pairs."""
    trainer = make_trainer(
        script=lambda episode, turn, info: turns.final(), pairs=pairs, eval_pairs=eval_pairs,
        per_device_train_batch_size=4, dynamic_sampling=True, max_refill_rounds=3, beta=0.0,
    )  # fmt: skip
    assert trainer.train_pairs == sorted(pool)
    assert trainer.eval_pair_indices == list(range(512 - eval_pairs, 512))
    rounds = _count_rounds(trainer, monkeypatch, [])
    trainer.train()
    assert len(rounds) == 4 and trainer.last_generation.report.refill_rounds == 3
    assert {p for pairs, _ in rounds for p in pairs} <= pool
