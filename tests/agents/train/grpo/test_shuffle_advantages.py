"""``shuffle_advantages``: a control update of the same size whose direction ignores the reward."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from agents.train.grpo.scoring import shuffled_advantages
from tests.agents.train.grpo.labels import answer_line, pair_labels


def test_permutes_only_the_trained_trajectories_seeded_by_seed_and_step() -> None:
    advantages = np.arange(8, dtype=float) - 3.5
    trained = np.array([True, True, False, True, True, True, False, True])
    out = shuffled_advantages(advantages, trained, seed=0, step=3)
    assert out[~trained].tolist() == advantages[~trained].tolist()
    assert sorted(out[trained].tolist()) == sorted(advantages[trained].tolist())
    assert not np.array_equal(out, advantages)
    np.testing.assert_array_equal(out, shuffled_advantages(advantages, trained, seed=0, step=3))
    others = [shuffled_advantages(advantages, trained, seed=s, step=t) for s, t in ((1, 3), (0, 4))]
    assert all(not np.array_equal(out, other) for other in others)
    assert advantages.tolist() == (np.arange(8) - 3.5).tolist(), "the input is left alone"


def _script(turns: Any, degenerate_pair: int | None) -> Any:
    """Member k of a group: right everywhere, OA only, nothing, OA and TA (accuracy 1, 0.5, 0, 2/3)."""
    labels: dict[int, dict[str, int]] = {}

    def play(episode: int, turn: int, info: dict[str, Any]) -> str:
        pair = info["pair_index"]
        right = labels.setdefault(pair, pair_labels(pair))
        wrong = {k: (v + 1) % 3 for k, v in right.items()}
        answers = [right, {**wrong, "OA": right["OA"]}, wrong, {**wrong, "OA": right["OA"], "TA": right["TA"]}]
        return turns.final(answer_line(right if pair == degenerate_pair else answers[episode % 4]))

    return play


def _advantages(trainer: Any) -> dict[int, float]:
    trainer.train()
    return {row.episode: row.advantage for row in trainer.last_generation.rows}


@pytest.mark.parametrize("degenerate_pair", [None, 0])
def test_the_trainer_trains_on_the_same_advantages_shuffled(
    make_trainer: Any, turns: Any, degenerate_pair: int | None
) -> None:
    """Two groups of 4; with ``degenerate_pair`` 0 its group is dropped (no refill) and keeps its zeros."""
    settings = {
        "pairs": [0, 1], "num_generations": 4, "per_device_train_batch_size": 8, "beta": 0.0,
        "dynamic_sampling": degenerate_pair is not None, "max_refill_rounds": 0,
    }  # fmt: skip
    plain = make_trainer(script=_script(turns, degenerate_pair), **settings)
    reference = _advantages(plain)
    control = make_trainer(script=_script(turns, degenerate_pair), shuffle_advantages=True, **settings)
    shuffled = _advantages(control)
    assert sorted(reference) == sorted(shuffled) == list(range(8))
    before = np.array([reference[e] for e in range(8)])
    after = np.array([shuffled[e] for e in range(8)])
    trained = np.array([row.weight > 0 for row in sorted(control.last_generation.rows, key=lambda r: r.episode)])
    assert trained.sum() == (4 if degenerate_pair is not None else 8)
    np.testing.assert_allclose(after, shuffled_advantages(before, trained, seed=0, step=0))
    assert not np.allclose(after, before), "the direction changed"
    np.testing.assert_allclose(np.sort(after[trained]), np.sort(before[trained]))
    if degenerate_pair is not None:
        assert after[~trained].tolist() == [0.0] * 4, "a dropped group's trajectories get none of the others'"
    # The logged reward is still the policy's own: shuffling touches only what the loss is given.
    assert control.state.log_history[0]["reward"] == pytest.approx(plain.state.log_history[0]["reward"])
