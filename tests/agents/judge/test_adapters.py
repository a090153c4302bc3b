"""TRL and Flow-GRPO adapters: groups by prompt wherever the samples sit (also across 2 gloo processes),
no NaN for unscorable samples, per-dimension weights, anchors without a gather."""

from __future__ import annotations

import json
import multiprocessing
import socket
from pathlib import Path

import numpy as np
import pytest

from agents.judge.adapters import FlowGRPOReward, TRLRewardFunction, preference_pairs, prompt_groups, prompt_text
from agents.judge.groups import score_group
from tests.agents.judge import two_process
from tests.agents.judge.stubs import StubJudge, close_calls_go_first


def test_samples_are_grouped_by_prompt_not_by_position() -> None:
    judge = StubJudge()
    reward = TRLRewardFunction(judge)
    assert reward.__name__ == "vr_judge"
    prompts = ["cat", "dog", [{"role": "user", "content": "dog"}], "cat", "cat"]
    completions = ["v1.mp4", "v5.mp4", "v4.mp4", "v3.mp4", "v2.mp4"]
    logged: dict[str, float] = {}
    scores = reward(prompts=prompts, completions=completions, log_metric=logged.__setitem__)
    cats = score_group(StubJudge(), "cat", ["v1.mp4", "v2.mp4", "v3.mp4"]).scores  # content order
    dogs = score_group(StubJudge(), "dog", ["v4.mp4", "v5.mp4"]).scores
    assert scores == [cats[0], dogs[1], dogs[0], cats[2], cats[1]]
    assert len(judge.batches) == 1 and {c.prompt for c in judge.batches[0]} == {"cat", "dog"}
    for comparison in judge.batches[0]:  # never a video of one prompt judged under another
        names = {str(comparison.video_a), str(comparison.video_b)}
        assert names <= ({"v1.mp4", "v2.mp4", "v3.mp4"} if comparison.prompt == "cat" else {"v4.mp4", "v5.mp4"})
    assert logged["vr_judge/judge_calls"] == 3 + 2 and logged["vr_judge/unscorable"] == 0.0
    assert logged["vr_judge/first_position_share"] == pytest.approx((1 / 3 + 1 / 2) / 2)  # mean over the groups


def test_unscorable_samples_get_the_group_mean_never_nan_and_are_counted() -> None:
    reward = TRLRewardFunction(StubJudge())
    logged: dict[str, float] = {}
    scores = reward(
        ["a"] * 4 + ["lonely"], ["v13.mp4", "v1.mp4", "v2.mp4", "v3.mp4", "v9.mp4"], log_metric=logged.__setitem__
    )
    assert all(isinstance(s, float) and np.isfinite(s) for s in scores)
    assert scores[0] == pytest.approx(np.mean(scores[1:4])) and scores[4] == 0.5
    assert logged["vr_judge/unscorable"] == pytest.approx(2 / 5)
    assert "no other sample of its prompt" in reward.last.reasons[4][0]  # type: ignore[union-attr]
    fixed = TRLRewardFunction(StubJudge(), unscorable_score=-1.0)
    assert fixed(["a"] * 3, ["v13.mp4", "v1.mp4", "v2.mp4"])[0] == -1.0


def test_flow_grpo_reward_with_batched_arrays_weights_and_info() -> None:
    rng = np.random.default_rng(0)
    videos = np.stack([np.full((4, 8, 8, 3), level, dtype=np.uint8) for level in (10, 30, 20, 13)])
    videos = np.concatenate([videos, rng.integers(0, 5, (1, 4, 8, 8, 3), dtype=np.uint8)])
    fn = FlowGRPOReward(StubJudge(rule=close_calls_go_first), weights={"OA": 1.0, "MQ": 0.5})
    scores, info = fn(videos, ["p"] * 5, [{}] * 5)
    assert scores.dtype == np.float64 and np.isfinite(scores).all()
    assert info["unscorable_count"] == 1 and 3 in info["unscorable"] and np.isnan(info["dimensions"]["OA"][3])
    oa, mq = info["dimensions"]["OA"], info["dimensions"]["MQ"]
    assert scores[[0, 1, 2, 4]] == pytest.approx((oa + 0.5 * mq)[[0, 1, 2, 4]])
    assert oa[1] > oa[2] > oa[0] > oa[4] and mq[1] < mq[4]
    assert scores[3] == pytest.approx(np.mean(scores[[0, 1, 2, 4]]))
    assert len(info["groups"]) == 1 and sorted(info["groups"][0]) == [0, 1, 2, 3, 4]  # one prompt group
    with pytest.raises(ValueError, match="unknown dimension"):
        FlowGRPOReward(StubJudge(), weights={"XX": 1.0})


def test_anchor_mode_needs_no_gather_and_takes_reference_lists() -> None:
    anchored = TRLRewardFunction(StubJudge(), mode="anchor")
    refs = [["v2.mp4", "v6.mp4"]] * 2
    assert anchored(["a", "a"], ["v1.mp4", "v4.mp4"], reference_video=refs) == [0.0, 0.5]
    assert anchored(["a", "b"], ["v1.mp4", "v9.mp4"], reference_video=["v2.mp4"] * 2) == [0.0, 1.0]
    with pytest.raises(ValueError, match="reference_video"):
        anchored(["a", "a"], ["v1.mp4", "v4.mp4"])


def test_preference_pairs_skip_ties_and_unscorable() -> None:
    videos = ["v2.mp4", "v5.mp4", "v2b.mp4", "v13.mp4"]  # v2b has quality 2 too: tie with v2
    result = score_group(StubJudge(), "p", videos, orders="index")
    rows = list(preference_pairs("p", videos, result, ids=["a", "b", "c", "d"]))
    assert [(r["chosen"], r["rejected"]) for r in rows] == [("b", "a"), ("b", "c")]
    assert rows[0]["probability"] == pytest.approx(0.8 + 0.05)


def test_small_helpers() -> None:
    assert prompt_groups(["a", "a", "b"]) == [[0, 1], [2]]
    assert prompt_text([{"role": "user", "content": [{"type": "text", "text": "hi"}]}]) == "hi"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_two_gloo_processes_score_shuffled_batches_exactly_as_one_process(tmp_path: Path) -> None:
    import torch

    prompts, videos, _ = two_process.batch()
    whole = TRLRewardFunction(StubJudge(rule=close_calls_go_first))(prompts, [torch.from_numpy(v) for v in videos])
    flow_whole, _ = FlowGRPOReward(StubJudge(rule=close_calls_go_first), weights={"OA": 1.0, "MQ": 0.5})(
        np.stack(videos), prompts, [{}] * 12
    )
    context = multiprocessing.get_context("spawn")
    port = _free_port()
    outs = [tmp_path / f"rank{r}.json" for r in range(2)]
    procs = [context.Process(target=two_process.worker, args=(r, 2, port, str(outs[r]))) for r in range(2)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
    for proc in procs:
        if proc.is_alive():
            proc.kill()
    assert all(proc.exitcode == 0 for proc in procs), [proc.exitcode for proc in procs]
    ranks = [json.loads(out.read_text()) for out in outs]
    for n in ranks[0]:
        judged = 0
        for rank in ranks:
            got = rank[n]
            assert got["trl"] == [whole[i] for i in got["ids"]]  # exactly, not approximately
            assert got["flow"] == [float(flow_whole[i]) for i in got["ids"]]
            judged += got["judged"]
        assert judged == 3 * 8  # each prompt's group judged once, by one of the two processes
        assert sum(rank[n]["flow_unscorable"] for rank in ranks) == 1
