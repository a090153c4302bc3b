"""The held-out evaluation hook: held-out pairs, figures by hand, log rows, no effect on training."""

from __future__ import annotations

from typing import Any

import pytest

from agents.train.grpo.held_out_eval import eval_metrics, held_out_pairs
from tests.agents.train.grpo.labels import answer_line, pair_labels

NUM_PAIRS = 512  # the synthetic dataset


def test_held_out_pairs_and_refused_datasets(make_trainer: Any) -> None:
    assert held_out_pairs(10, 3) == [7, 8, 9] and held_out_pairs(10, 0) == []
    with pytest.raises(ValueError, match="none left to train on"):
        held_out_pairs(4, 4)
    with pytest.raises(ValueError, match="train dataset holds pair 511"):
        make_trainer(pairs=[0, 511], eval_pairs=2)
    with pytest.raises(ValueError, match="eval_every=1 needs eval_pairs >= 1"):
        make_trainer(eval_every=1)
    with pytest.raises(ValueError, match="outside the environment's 512 pairs"):
        make_trainer(pairs=[0, 600])


def test_eval_metrics_with_nothing_to_average() -> None:
    tie = {"labels": {"TA": 0, "VQ": 0, "MQ": 0, "OA": 0}, "final_answer": None, "return": 0.0}
    metrics = eval_metrics([{**tie, "tool_calls": 0, "turns": 2, "valid_turns": 0, "finished": False}])
    assert metrics["eval/tau"] == 0.0 and metrics["eval/diff"] is None  # no non-tie OA label
    empty = eval_metrics([], unreadable=2)
    assert empty["eval/tau"] is None and empty["eval/return"] is None and empty["eval/unreadable"] == 2.0


def test_scripted_evaluation_by_hand(make_trainer: Any, turns: Any) -> None:
    """Held-out pair 510 (OA 1): a tool call, then right; pair 511 (OA tie): wrong on every key."""
    from agents.train.grpo.held_out_eval import evaluate_held_out

    labels = {pair: pair_labels(pair) for pair in (510, 511)}
    assert labels[511]["OA"] == 0 and labels[510]["OA"] != 0

    def eval_script(episode: int, turn: int, info: dict[str, Any]) -> str:
        right = labels[info["pair_index"]]
        if info["pair_index"] == 511:
            return turns.final(answer_line({k: (v + 1) % 3 for k, v in right.items()}))
        return turns.tool([2, 20], answer_line(right) + ", CF=2") if turn == 0 else turns.final(answer_line(right))

    trainer = make_trainer(
        script=lambda episode, turn, info: turns.final(), eval_script=eval_script, eval_every=1, eval_pairs=2, beta=0.0
    )
    assert trainer.eval_pair_indices == [510, 511] and trainer.train_pairs == list(range(510))
    model = trainer.model
    model.train()
    model.model.visual.eval()  # a mixed state: restored module by module
    metrics = evaluate_held_out(trainer)
    assert model.training and not model.model.visual.training and model.lm_head.training
    expected = {
        "eval/tau": 0.5,  # 510 right, 511 wrong
        "eval/diff": 1.0,  # only 510 has a non-tie OA label
        **{f"eval/{k}": 0.5 for k in ("TA", "VQ", "MQ")},
        "eval/format_valid_turn_rate": 1.0,  # 3 turns, all protocol turns
        "eval/tool_calls_per_episode": 0.5,
        "eval/return": (2.0 + 1.0) / 2,  # format 1 + accuracy 1 (no CoT gain: right before and after); 1 + 0
        "eval/finished_rate": 1.0,
        "eval/episodes": 2.0,
        "eval/unreadable": 0.0,
    }
    assert {k: metrics[k] for k in expected} == pytest.approx(expected)
    trainer.train()  # one step: evaluated at step 0 and after step 1, the same figures
    rows = [r for r in trainer.state.log_history if "eval/tau" in r]
    assert [r["step"] for r in rows] == [0, 1]
    for row in rows:
        assert {k: row[k] for k in expected} == pytest.approx(expected)
    assert [r["step"] for r in trainer.state.log_history if "reward" in r] == [1]  # the training row is kept


def test_evaluation_does_not_change_training(make_trainer: Any, turns: Any) -> None:
    """Two steps with held-out pairs, evaluation off and on: same weights, same logged training figures."""

    def script(episode: int, turn: int, info: dict[str, Any]) -> str | None:
        return turns.final() if episode % 2 == 0 else None  # odd members sample: uses the rollout seeds

    runs = []
    for every in (0, 1):
        trainer = make_trainer(script=script, max_steps=2, eval_pairs=2, eval_every=every, beta=0.0)
        trainer.train()
        rows = [r for r in trainer.state.log_history if "reward" in r]
        evals = [r["step"] for r in trainer.state.log_history if "eval/tau" in r]
        runs.append((trainer.model.state_dict(), rows, evals))
    (off, rows_off, evals_off), (on, rows_on, evals_on) = runs
    assert evals_off == [] and evals_on == [0, 1, 2]
    assert all(off[k].equal(on[k]) for k in off)
    for a, b in zip(rows_off, rows_on, strict=True):
        for name in ("reward", "refilled/reward", "loss", "grad_norm", "completions/mean_length"):
            assert a[name] == b[name], name
