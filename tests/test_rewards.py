from __future__ import annotations

import pytest

from vr_env.config import RewardWeights, reward_weights
from vr_env.protocol.parsing import parse_answer
from vr_env.rewards import EpisodeOutcome, Rubric, answer_accuracy, exploration_bonus, group_advantages

LABELS = {"TA": 1, "VQ": 2, "MQ": 0, "OA": 1}


def final(body: str):
    return parse_answer(body, "final")


def rec(body: str):
    return parse_answer(body, "recommend")


@pytest.mark.parametrize(
    ("body", "alpha", "expected"),
    [
        ("TA=1, VQ=2, MQ=0, OA=1", 0.5, 1.0),
        ("TA=2, VQ=1, MQ=1, OA=2", 0.5, 0.0),
        ("TA=1, VQ=1, MQ=1, OA=1", 0.5, 0.5 + 0.5 / 3),
        ("TA=1, VQ=2, MQ=0, OA=2", 0.5, 0.5),
        ("TA=1, VQ=2, MQ=0, OA=2", 0.25, 0.75),
        ("TA=1, VQ=2, MQ=0, OA=2", 1.0, 0.0),
        ("TA=1, OA=1", 0.5, 0.5 + 0.5 / 3),  # missing keys count as wrong
    ],
)
def test_accuracy_hand_computed(body: str, alpha: float, expected: float) -> None:
    assert answer_accuracy(final(body), LABELS, alpha) == pytest.approx(expected)


def test_ties_are_an_ordinary_class() -> None:
    ties = {"TA": 0, "VQ": 0, "MQ": 0, "OA": 0}
    assert answer_accuracy(final("TA=0, VQ=0, MQ=0, OA=0"), ties) == 1.0
    assert answer_accuracy(final("TA=1, VQ=0, MQ=0, OA=1"), ties) == pytest.approx(0.5 * 2 / 3)


def test_unlabelled_keys_are_skipped() -> None:
    overall_only = {"TA": None, "VQ": None, "MQ": None, "OA": 2}
    assert answer_accuracy(final("TA=1, VQ=1, MQ=1, OA=2"), overall_only) == 1.0
    dims_only = {"TA": 1, "VQ": 1, "MQ": 2, "OA": None}
    assert answer_accuracy(final("TA=1, VQ=1, MQ=1, OA=2"), dims_only) == pytest.approx(2 / 3)
    assert answer_accuracy(None, LABELS) == 0.0


def test_rubric_scripted_episode_components() -> None:
    answers = (rec("TA=2,VQ=2,MQ=0,OA=2,CF=3"), rec("TA=1,VQ=1,MQ=0,OA=1,CF=2"), final("TA=1,VQ=2,MQ=0,OA=1"))
    outcome = EpisodeOutcome(LABELS, answers, (True, True, True), finished=True, used_tool=True)
    result = Rubric(RewardWeights()).score(outcome)
    first = 0.5 * 0 + 0.5 * 2 / 3
    assert result.components["format"] == 1.0
    assert result.components["accuracy"] == 1.0
    assert result.components["cot_gain"] == pytest.approx(0.2 * (1.0 - first))
    assert result.total == pytest.approx(2.0 + 0.2 * (1.0 - first))


def test_truncated_episode_scores_last_provisional_without_format() -> None:
    answers = (rec("TA=2,VQ=2,MQ=0,OA=2,CF=3"), rec("TA=1,VQ=2,MQ=0,OA=1,CF=1"))
    outcome = EpisodeOutcome(LABELS, answers, (True, True), finished=False, used_tool=True)
    result = Rubric().score(outcome)
    assert result.components["format"] == 0.0
    assert result.components["accuracy"] == 1.0


def test_binary_preset_is_overall_only() -> None:
    weights = reward_weights("binary")
    outcome = EpisodeOutcome(LABELS, (final("TA=2,VQ=1,MQ=1,OA=1"),), (False,), finished=True, used_tool=False)
    result = Rubric(weights).score(outcome)
    assert result.total == 1.0 and result.components["accuracy"] == 1.0


def test_reward_spec_resolution_and_errors() -> None:
    assert reward_weights({"cot_k": 0.5}).cot_k == 0.5
    assert reward_weights({"preset": "binary", "format": 0.5}).overall_only
    with pytest.raises(ValueError, match="unknown reward preset"):
        reward_weights("nope")
    with pytest.raises(ValueError, match="unknown reward weights"):
        reward_weights({"gamma": 1})
    with pytest.raises(ValueError, match="alpha"):
        RewardWeights(alpha=2)


def test_exploration_bonus_group_level() -> None:
    assert exploration_bonus([False] * 8).tolist() == [0.0] * 8  # nobody explored: nothing to reward
    assert exploration_bonus([True] * 8).tolist() == [0.0] * 8  # rate 1 > omega
    bonus = exploration_bonus([True, False, False, False, False, False, False, False, False, False])
    assert bonus[0] == pytest.approx(0.5 * (0.2 - 0.1)) and bonus[1:].sum() == 0


def test_group_advantages() -> None:
    adv = group_advantages([1.0, 0.0, 1.0, 0.0])
    assert adv.tolist() == [1.0, -1.0, 1.0, -1.0]
    assert group_advantages([2.0, 2.0]).tolist() == [0.0, 0.0]
