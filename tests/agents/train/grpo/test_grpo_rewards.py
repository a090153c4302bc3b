"""Scripted rewards: components, the group exploration term and advantages against hand-computed values.

One group of G = 8 on one synthetic pair; every turn is forced (a tool call, a bad call, answers of
known correctness, garbage), so each trajectory's score can be computed by hand from the paper's
formulas (alpha = 0.5, k = 0.2, omega = 0.2, eta = 0.5, invalid-turn penalty 0.1).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from agents.train.grpo.scoring import STAT_FIELDS, score_groups

KEYS = ("TA", "VQ", "MQ", "OA")
PAIR = 3


def _answer(values: dict[str, int], confidence: int | None = None) -> str:
    text = ", ".join(f"{k}={values[k]}" for k in KEYS)
    return text + (f", CF={confidence}" if confidence is not None else "")


def _labels() -> dict[str, int]:
    import gymnasium as gym

    env = gym.make("vr_env:VRJudge-v0", frames_per_video=16)
    labels = dict(env.unwrapped.dataset[PAIR].labels)
    env.close()
    return {k: int(labels[k]) for k in KEYS}


def _script(turns: Any, labels: dict[str, int]) -> Callable[[int, int, dict[str, Any]], str]:
    right = dict(labels)
    wrong = {k: (v + 1) % 3 for k, v in labels.items()}
    oa_only = {**wrong, "OA": right["OA"]}
    dims_only = {**right, "OA": wrong["OA"]}
    ta_wrong = {**right, "TA": wrong["TA"]}
    plans = {
        0: [turns.tool([2, 20], _answer(wrong, 2)), turns.final(_answer(right))],  # tool call, then right
        1: [turns.tool([999], _answer(right, 1)), turns.final(_answer(dims_only))],  # bad call, then worse
        2: [turns.final(_answer(right))],
        3: [turns.final(_answer(wrong))],
        4: [turns.final(_answer(oa_only))],
        5: [turns.final(_answer(dims_only))],
        6: ["garbage", "more garbage", "still garbage", "the end"],  # every turn invalid, truncated
        7: [turns.final(_answer(ta_wrong))],
    }
    return lambda episode, turn, info: plans[episode % 8][turn]


#: Hand-computed returns: format + accuracy + cot_gain - 0.1 per invalid turn.
RETURNS = [
    1 + 1 + 0.2 * (1 - 0),  # format ok, right at the end, first answer all wrong: CoT gain +0.2
    1 + 0.5 + 0.2 * (0.5 - 1) - 0.1,  # out-of-range call (invalid, -0.1, well-formed), OA wrong at the end
    1 + 1,
    1 + 0,
    1 + 0.5,  # only OA right: alpha * 1
    1 + 0.5,  # only the dimensions right: (1 - alpha) * 1
    0 + 0 - 4 * 0.1,  # no answer, four invalid turns
    1 + 0.5 + 0.5 * 2 / 3,  # OA and two of three dimensions right
]
#: One trajectory of eight used the tool: R = 1/8 < omega, bonus eta * (omega - R) for it alone.
EXPLORATION = [0.5 * (0.2 - 1 / 8)] + [0.0] * 7


def test_scores_components_and_advantages_by_hand(make_trainer: Any, turns: Any) -> None:
    trainer = make_trainer(
        script=_script(turns, _labels()),
        pairs=[PAIR],
        num_generations=8,
        per_device_train_batch_size=8,
        beta=0.0,
    )
    trainer.train()
    generation = trainer.last_generation
    episodes = generation.episodes
    assert [e.pair_index for e in episodes] == [PAIR] * 8
    assert [e.used_tool for e in episodes] == [True] + [False] * 7
    assert episodes[1].invalid_turns == 1 and episodes[6].invalid_turns == 4 and episodes[6].truncated
    formats = [e.reward_components["format"] for e in episodes]
    assert formats == [1, 1, 1, 1, 1, 1, 0, 1]
    accuracy = [e.reward_components["accuracy"] for e in episodes]
    np.testing.assert_allclose(accuracy, [1, 0.5, 1, 0, 0.5, 0.5, 0, 0.5 + 0.5 * 2 / 3])
    cot = [e.reward_components["cot_gain"] for e in episodes]
    np.testing.assert_allclose(cot, [0.2, -0.1, 0, 0, 0, 0, 0, 0], atol=1e-12)
    np.testing.assert_allclose([e.total_reward for e in episodes], RETURNS)
    np.testing.assert_allclose(generation.scores.exploration, EXPLORATION)
    score = np.array(RETURNS) + np.array(EXPLORATION)
    np.testing.assert_allclose(generation.scores.score, score)
    expected = (score - score.mean()) / score.std()
    np.testing.assert_allclose(generation.scores.advantages, expected, rtol=1e-6)
    # Every row of a trajectory carries its trajectory's advantage.
    for row in generation.rows:
        if row.weight > 0:
            assert row.advantage == pytest.approx(expected[row.episode])
    assert sorted(generation.batch["advantages"].tolist()) == pytest.approx(
        sorted(expected[r.episode] if r.weight > 0 else 0.0 for r in generation.rows)
    )
    logged = trainer.state.log_history[0]
    assert logged["reward"] == pytest.approx(score.mean())
    assert logged["rewards/exploration/mean"] == pytest.approx(np.mean(EXPLORATION))
    assert logged["rewards/format/mean"] == pytest.approx(7 / 8)
    assert logged["format_rate"] == pytest.approx(7 / 8)
    assert logged["trajectory/tool_calls/mean"] == pytest.approx(1 / 8)
    assert logged["trajectory/frames_fetched/mean"] == pytest.approx(2 / 8)
    assert logged["trajectory/rows/mean"] == pytest.approx(np.mean([2, 2, 1, 1, 1, 1, 4, 1]))


def _stats(rows: list[dict[str, float]]) -> np.ndarray:
    return np.array([[row.get(f, 0.0) for f in STAT_FIELDS] for row in rows])


def test_a_group_spanning_ranks_is_scored_after_the_gather() -> None:
    """Gathered order: rank 0's trajectories then rank 1's; a group of 4 spans both ranks."""
    rank0 = [{"valid": 1, "return": 2.0, "accuracy": 1.0, "used_tool": 1}, {"valid": 1, "return": 1.0}]
    rank1 = [{"valid": 1, "return": 1.0}, {"valid": 1, "return": 1.0}]
    scores = score_groups(_stats(rank0 + rank1), group_size=4, omega=0.5, eta=0.5)
    # R = 1/4 over the whole group (not 1/2 as rank 0 alone would say): bonus 0.5 * (0.5 - 0.25).
    np.testing.assert_allclose(scores.exploration, [0.125, 0, 0, 0])
    score = np.array([2.125, 1, 1, 1])
    np.testing.assert_allclose(scores.advantages, (score - score.mean()) / score.std())
    assert not scores.degenerate[0]


def test_degenerate_and_unreadable_groups() -> None:
    same = [{"valid": 1, "return": r, "accuracy": 0.5} for r in (1.0, 1.2)]
    unreadable = [{"valid": 0}, {"valid": 0}]
    scores = score_groups(_stats(same + unreadable), group_size=2, omega=0.2, eta=0.5)
    assert scores.degenerate.tolist() == [True, True]
    assert np.isnan(scores.score[2:]).all() and (scores.advantages[2:] == 0).all()
    np.testing.assert_allclose(scores.advantages[:2], [-1, 1])  # still normalized; dynamic sampling drops it
