"""Verdicts and the both-order combination against hand-computed values."""

from __future__ import annotations

import json

import pytest

from agents.judge.verdict import Verdict, combine_orders

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
