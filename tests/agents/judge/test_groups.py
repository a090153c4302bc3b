"""Group scores: position-balanced schedules, the Bradley-Terry fit with an order effect, every
dimension, the bias measured per group, and the cost of each scheme."""

from __future__ import annotations

import numpy as np
import pytest

from agents.judge.bradley_terry import fit
from agents.judge.groups import score_group, summarize
from agents.judge.schemes import first_counts, schedule
from agents.judge.verdict import Verdict
from tests.agents.judge.stubs import StubJudge, close_calls_go_first, constant

SCHEMES = [
    ("round_robin", {}),
    ("round_robin", {"orders": "both"}),
    ("round_robin", {"both_orders": True}),
    ("sparse", {"k": 2}),
    ("sparse", {"k": 4}),
    ("anchor", {"anchor": "ref.mp4"}),
    ("anchor", {"anchor": ["r1.mp4", "r2.mp4"]}),
    ("anchor", {"anchor": ["r1.mp4", "r2.mp4", "r3.mp4"]}),
    ("anchor", {"anchor": 1}),
]


@pytest.mark.parametrize(("mode", "options"), SCHEMES)
@pytest.mark.parametrize("n", [2, 4, 7, 8, 16])
@pytest.mark.parametrize("first_wins", [True, False])
def test_a_constant_judge_gives_every_video_the_same_score(mode: str, options: dict, n: int, first_wins: bool) -> None:
    videos = [f"v{i}.mp4" for i in range(n)]
    result = score_group(StubJudge(rule=constant(first_wins)), "p", videos, mode=mode, **options)
    for key, values in result.dimensions.items():
        assert len(set(values)) == 1 and values[0] == pytest.approx(0.5), (key, values)
    assert result.scores == result.dimensions["OA"]
    assert result.first_position_share == (1.0 if first_wins else 0.0) or options.get("both_orders")
    if mode != "anchor" and not options.get("both_orders"):
        assert (result.order_effect or 0.0) * (1 if first_wins else -1) > 2.0  # the bias went into h


def test_the_old_layout_turned_position_bias_into_reward() -> None:
    """Index order (the former default) ranks a first-position judge's group by index; balanced does not."""
    videos = ["v1.mp4", "v2.mp4", "v3.mp4", "v4.mp4"]
    judge = StubJudge(rule=constant(True))
    old = score_group(judge, "p", videos, orders="index").scores
    assert old[0] > old[1] > old[2] > old[3]
    forward = score_group(judge, "p", videos).scores
    backward = score_group(judge, "p", videos[::-1]).scores
    assert forward == backward == [0.5] * 4


def test_a_judge_biased_on_close_calls_still_ranks_by_quality() -> None:
    videos = ["v1.mp4", "v2.mp4", "v6.mp4", "v9.mp4", "v10.mp4", "v15.mp4"]
    judge = StubJudge(rule=close_calls_go_first)
    for layout in (videos, videos[::-1]):
        result = score_group(judge, "p", layout)
        s = dict(zip(layout, result.scores, strict=True))
        assert s["v15.mp4"] > s["v9.mp4"] > s["v1.mp4"] and s["v15.mp4"] > s["v6.mp4"] > s["v2.mp4"]
        mq = dict(zip(layout, result.dimensions["MQ"], strict=True))
        assert mq["v15.mp4"] < mq["v1.mp4"] and result.dimensions["TA"] == result.scores  # MQ runs the other way
    both = score_group(judge, "p", videos, orders="both")
    assert both.scores == pytest.approx(score_group(judge, "p", videos[::-1], orders="both").scores[::-1], abs=1e-9)
    assert 0.5 < (both.first_position_share or 0) < 1 and (both.order_effect or 0) > 0  # measured, not rewarded


@pytest.mark.parametrize("n", range(2, 18))
def test_balanced_schedules_show_every_video_first_as_often_as_second(n: int) -> None:
    rr = schedule(n, "round_robin")
    assert {frozenset(p) for p in rr} == {frozenset((i, j)) for i in range(n) for j in range(i + 1, n)}
    assert all(a == b for a, b in first_counts(n, rr))
    assert len(rr) == n * (n - 1) // 2 + (n // 2 if n % 2 == 0 else 0)
    for k in (2, 4):
        if n > k + 1:
            sp = schedule(n, "sparse", k=k)
            assert len(sp) == n * k // 2 and all(a == b == k // 2 for a, b in first_counts(n, sp))
    for m in (1, 2, 3, 4):
        anchored = schedule(n, "anchor", references=m)
        assert all(a == b for a, b in first_counts(n, anchored))
        assert len(anchored) == n * m * (1 if m % 2 == 0 else 2)


def test_schedule_errors_name_the_problem() -> None:
    with pytest.raises(ValueError, match="even number"):
        schedule(8, "sparse", k=3)
    with pytest.raises(ValueError, match="at least 2"):
        schedule(1, "round_robin")
    with pytest.raises(ValueError, match="unknown orders"):
        schedule(4, "round_robin", orders="random")
    assert schedule(4, "sparse", k=4) == schedule(4, "round_robin")  # too small for k: all pairs
    with pytest.raises(ValueError, match="group 0: anchor mode needs an anchor"):
        score_group(StubJudge(), "p", ["v1.mp4"], mode="anchor")


def test_bradley_terry_recovers_strengths_and_the_order_effect() -> None:
    rng = np.random.default_rng(0)
    truth = np.array([-1.0, -0.3, 0.2, 1.1])
    h = 0.8
    observations = []
    for _ in range(3000):
        a, b = rng.choice(4, 2, replace=False)
        p = 1 / (1 + np.exp(-(truth[a] - truth[b] + h)))
        observations.append((int(a), int(b), float(rng.random() < p)))
    result = fit(4, observations)
    assert result.strengths == pytest.approx(truth - truth.mean(), abs=0.12)
    assert result.order_effect == pytest.approx(h, abs=0.12)
    plain = fit(2, [(0, 1, 1.0)] * 5, order_effect=False)
    assert plain.order_effect == 0.0 and plain.strengths[0] > 0 and np.isfinite(plain.strengths).all()
    with pytest.raises(ValueError, match="not two videos"):
        fit(2, [(0, 0, 1.0)])


def test_unscorable_comparisons_leave_none_with_reasons_and_ties_count_half() -> None:
    result = score_group(StubJudge(), "p", ["v13.mp4", "v1.mp4", "v2.mp4"])
    assert result.scores[0] is None and result.scores[2] > result.scores[1]
    assert len(result.unscorable[0]) == 2 and "vs video" in result.unscorable[0][0]
    tie = Verdict(status="ok", winners=dict.fromkeys(("TA", "VQ", "MQ", "OA"), 0))
    even = summarize(2, "round_robin", [(0, 1), (1, 0)], [tie, tie])
    assert even.scores == [0.5, 0.5] and even.first_position_share == 0.5


def test_costs_and_soft_scores() -> None:
    videos = [f"v{i}.mp4" for i in range(1, 9)]
    calls = {
        "round_robin": score_group(StubJudge(), "p", videos).judge_calls,
        "sparse": score_group(StubJudge(), "p", videos, mode="sparse", k=4).judge_calls,
        "anchor": score_group(StubJudge(), "p", videos, mode="anchor", anchor=["r3.mp4", "r6.mp4"]).judge_calls,
    }
    assert calls == {"round_robin": 32, "sparse": 16, "anchor": 16}
    soft = score_group(StubJudge(), "p", ["v3.mp4", "v1.mp4", "v2.mp4"], soft=True)
    assert soft.scores[0] > soft.scores[2] > soft.scores[1]
    inside = score_group(StubJudge(), "p", ["v3.mp4", "v1.mp4", "v2.mp4"], mode="anchor", anchor=2)
    assert inside.scores == [1.0, 0.0, 0.5] and inside.judge_calls == 4
