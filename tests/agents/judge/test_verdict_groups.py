"""Verdicts, both-order combination, group scores and adapters against hand-computed values."""

from __future__ import annotations

import json

import numpy as np
import pytest

from agents.judge.adapters import FlowGRPOReward, TRLRewardFunction, consecutive_groups, preference_pairs, prompt_text
from agents.judge.groups import aggregate, group_pairs, score_group
from agents.judge.verdict import Verdict, combine_orders
from tests.agents.judge.stubs import StubJudge

W = {"TA": 1, "VQ": 2, "MQ": 0, "OA": 1}


def test_preference_and_mirror() -> None:
    v = Verdict(status="ok", winners=W, distribution={0: 0.2, 1: 0.5, 2: 0.3})
    assert v.overall == 1 and v.preference == pytest.approx(0.5 + 0.1)
    m = v.mirrored()
    assert m.winners == {"TA": 2, "VQ": 1, "MQ": 0, "OA": 2} and m.preference == pytest.approx(0.3 + 0.1)
    assert Verdict.unscorable("x").preference is None and Verdict.unscorable("x").overall is None
    again = Verdict.from_dict(json.loads(json.dumps(v.to_dict())))
    assert again.winners == v.winners and again.distribution == v.distribution


def test_both_orders_agreement_and_disagreement() -> None:
    forward = Verdict(status="ok", winners=W, distribution={0: 0.2, 1: 0.5, 2: 0.3})
    # b-first run says its first video (b) loses overall -> mirrored: a wins; TA disagrees.
    backward = Verdict(status="ok", winners={"TA": 1, "VQ": 1, "MQ": 0, "OA": 2}, distribution={0: 0.1, 1: 0.3, 2: 0.6})
    combined = combine_orders(forward, backward)
    assert combined.agreement is True
    assert combined.dimension_agreement == {"TA": False, "VQ": True, "MQ": True, "OA": True}
    assert combined.winners == {"TA": 0, "VQ": 2, "MQ": 0, "OA": 1}
    # mean of (0.2, 0.5, 0.3) and mirrored (0.1, 0.6, 0.3)
    assert combined.distribution == pytest.approx({0: 0.15, 1: 0.55, 2: 0.3})
    assert combined.preference == pytest.approx(0.55 + 0.075)
    flip = combine_orders(forward, Verdict(status="ok", winners=W, distribution=None))
    assert flip.agreement is False and flip.overall == 0 and flip.distribution is None
    bad = combine_orders(forward, Verdict.unscorable("unreadable video: x"))
    assert not bad.ok and "b-first" in (bad.reason or "") and len(bad.orders) == 2


def test_group_pairs_and_aggregate_by_hand() -> None:
    pairs = group_pairs(4, "round_robin")
    assert pairs == [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]
    ok = lambda oa, pref=None: Verdict(  # noqa: E731
        status="ok", winners={**W, "OA": oa}, distribution=None if pref is None else {0: 0.0, 1: pref, 2: 1 - pref}
    )
    # 0 beats 1, ties 2, loses to 3; 1 beats 2; 1 vs 3 unscorable; 3 beats 2.
    verdicts = [ok(1, 0.9), ok(0, 0.5), ok(2, 0.2), ok(1, 0.7), Verdict.unscorable("no answer"), ok(2, 0.4)]
    scores, problems = aggregate(4, pairs, verdicts)
    assert scores == pytest.approx([(1 + 0.5 + 0) / 3, (0 + 1) / 2, (0.5 + 0 + 0) / 3, (1 + 1) / 2])
    assert set(problems) == {1, 3} and "vs video 3" in problems[1][0]
    soft, _ = aggregate(4, pairs, verdicts, soft=True)
    assert soft == pytest.approx([(0.9 + 0.5 + 0.2) / 3, (0.1 + 0.7) / 2, (0.5 + 0.3 + 0.4) / 3, (0.8 + 0.6) / 2])
    all_bad, problems = aggregate(2, [(0, 1)], [Verdict.unscorable("unreadable video: v")])
    assert all_bad == [None, None] and problems[0] == ["vs video 1: unreadable video: v"]


def test_score_group_modes_report_calls() -> None:
    judge = StubJudge()
    videos = ["v3.mp4", "v1.mp4", "v2.mp4"]
    rr = score_group(judge, "p", videos)
    assert rr.scores == [1.0, 0.0, 0.5] and rr.judge_calls == 3 and len(judge.batches) == 1
    anchor = score_group(judge, "p", videos, mode="anchor", anchor="v2.mp4")
    assert anchor.scores == [1.0, 0.0, 0.5] and anchor.judge_calls == 3 and anchor.pairs == [(0, -1), (1, -1), (2, -1)]
    inside = score_group(judge, "p", videos, mode="anchor", anchor=2)
    assert inside.scores == [1.0, 0.0, 0.5] and inside.judge_calls == 2
    both = score_group(judge, "p", videos, both_orders=True)
    assert both.scores == [1.0, 0.0, 0.5] and both.judge_calls == 6
    assert all(v.agreement for v in both.verdicts)
    soft = score_group(judge, "p", videos, soft=True)
    assert soft.scores == pytest.approx([0.85, 0.15, 0.5])
    with pytest.raises(ValueError, match="at least 2"):
        score_group(judge, "p", ["v1.mp4"])
    with pytest.raises(ValueError, match="anchor"):
        score_group(judge, "p", videos, mode="anchor")


def test_unscorable_video_gets_none_not_a_number() -> None:
    result = score_group(StubJudge(), "p", ["v13.mp4", "v1.mp4", "v2.mp4"])
    assert result.scores[0] is None and result.scores[1:] == [0.0, 1.0]
    assert len(result.unscorable[0]) == 2


def test_trl_reward_function_groups_consecutive_prompts() -> None:
    judge = StubJudge()
    reward = TRLRewardFunction(judge)
    assert reward.__name__ == "vr_judge"
    prompts = ["cat"] * 3 + [[{"role": "user", "content": "dog"}]] * 2
    completions = ["v1.mp4", "v3.mp4", "v2.mp4", "v5.mp4", "v4.mp4"]
    logged: dict[str, float] = {}
    scores = reward(prompts=prompts, completions=completions, completion_ids=None, log_metric=logged.__setitem__)
    assert scores == [0.0, 1.0, 0.5, 1.0, 0.0]
    assert logged["vr_judge/judge_calls"] == 4 and logged["vr_judge/unscorable"] == 0.0
    assert len(judge.batches) == 1 and len(judge.batches[0]) == 3 + 1  # all groups in one judge run
    assert reward(prompts=["a"] * 4, completions=["v13.mp4", "v1.mp4", "v2.mp4", "v3.mp4"])[0] is None
    anchored = TRLRewardFunction(judge, mode="anchor")
    assert anchored(["a", "a"], ["v1.mp4", "v4.mp4"], reference_video=["v2.mp4", "v2.mp4"]) == [0.0, 1.0]
    with pytest.raises(ValueError, match="reference_video"):
        anchored(["a", "a"], ["v1.mp4", "v4.mp4"])
    with pytest.raises(ValueError, match="stand alone"):
        reward(["a", "b"], ["v1.mp4", "v2.mp4"])


def test_flow_grpo_reward_with_batched_arrays() -> None:
    rng = np.random.default_rng(0)
    videos = np.stack([np.full((4, 8, 8, 3), level, dtype=np.uint8) for level in (10, 30, 20, 13)])
    videos = np.concatenate([videos, rng.integers(0, 5, (1, 4, 8, 8, 3), dtype=np.uint8)])
    fn = FlowGRPOReward(StubJudge(), group_size=5)
    scores, info = fn(videos, ["p"] * 5, [{}] * 5)
    assert scores.dtype == np.float64 and np.isnan(scores[3])
    assert scores[[0, 1, 2, 4]] == pytest.approx([1 / 3, 1.0, 2 / 3, 0.0])
    assert info["judge_calls"] == 10 and 3 in info["unscorable"] and info["groups"] == [[0, 1, 2, 3, 4]]


def test_preference_pairs_skip_ties_and_unscorable() -> None:
    judge = StubJudge()
    videos = ["v2.mp4", "v5.mp4", "v2b.mp4", "v13.mp4"]  # v2b has quality 2 too: tie with v2
    result = score_group(judge, "p", videos)
    rows = list(preference_pairs("p", videos, result, ids=["a", "b", "c", "d"]))
    assert [(r["chosen"], r["rejected"]) for r in rows] == [("b", "a"), ("b", "c")]
    assert rows[0]["probability"] == pytest.approx(0.8 + 0.05)


def test_small_helpers() -> None:
    assert consecutive_groups(["a", "a", "b"]) == [[0, 1], [2]]
    with pytest.raises(ValueError, match="groups of 2"):
        consecutive_groups(["a"] * 3, 2)
    assert prompt_text([{"role": "user", "content": [{"type": "text", "text": "hi"}]}]) == "hi"
