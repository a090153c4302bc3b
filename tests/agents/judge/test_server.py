"""The HTTP service on 127.0.0.1 (random free port): concurrency, batching, cache, bad inputs, back-pressure.

Most tests serve a rule-based stand-in judge (fast, deterministic); the last one serves the tiny model.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agents.judge.client import JudgeClient, JudgeServiceError
from tests.agents.judge.serving import post_raw, running
from tests.agents.judge.stubs import StubJudge


def test_concurrent_clients_no_request_lost_or_answered_twice(video_root: Path) -> None:
    judge = StubJudge(delay=0.15)
    with running(judge, video_root=str(video_root), max_batch=16, batch_wait_ms=50) as url:
        client = JudgeClient(url, timeout=60)
        pairs = [(f"v{a}.mp4", f"v{b}.mp4") for a in range(1, 7) for b in range(1, 7) if a != b]  # 30 ordered pairs

        def ask(index: int) -> tuple[int, Any]:
            a, b = pairs[index]
            return index, client.compare(a, b, f"request {index}")

        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(ask, range(len(pairs)), timeout=120))
        assert sorted(i for i, _ in answers) == list(range(len(pairs)))
        for index, verdict in answers:
            a, b = (int(name[1]) for name in pairs[index])
            assert verdict.ok and verdict.overall == (1 if a > b else 2) and not verdict.cached
        judged = [c.prompt for batch in judge.batches for c in batch]
        assert sorted(judged) == sorted(f"request {i}" for i in range(len(pairs)))  # each exactly once
        assert max(len(batch) for batch in judge.batches) > 1 and len(judge.batches) < len(pairs)  # batched
        metrics = client.metrics()
        assert metrics["vr_judge_comparisons"] == len(pairs) and metrics["vr_judge_batches"] == len(judge.batches)
        assert metrics['vr_judge_requests_total{path="/v1/compare",status="200"}'] == len(pairs)


def test_bad_inputs_get_clear_4xx_and_the_server_keeps_serving(video_root: Path) -> None:
    judge = StubJudge()
    with running(judge, video_root=str(video_root), max_request_bytes=200_000, max_inline_bytes=50_000) as url:
        client = JudgeClient(url, retries=0)
        cases = [
            (("/etc/hostname", "v1.mp4"), 403, "outside the video root"),
            (("../" * 8 + "etc/hostname", "v1.mp4"), 403, "outside the video root"),
            ((np.zeros((40, 32, 32, 3), np.uint8), "v1.mp4"), 413, "inline video"),
            ((np.zeros((300, 32, 32, 3), np.uint8), "v1.mp4"), 413, "request body is over the limit"),
        ]
        for (a, b), status, message in cases:
            with pytest.raises(JudgeServiceError) as caught:
                client.compare(a, b, "p")
            assert caught.value.status == status and message in caught.value.message, caught.value
            assert client.health()["status"] == "ok"
        raw = [
            (b'{"items": [', "JSON decode error"),
            (b'{"items": []}', "at least 1 item"),
            (b'{"items": [{"video_a": {"path": "v1.mp4"}, "video_b": {"path": "v2.mp4"}}]}', "prompt"),
            (
                b'{"items": [{"video_a": {"path": "v1.mp4", "data": "AA=="}, "video_b": {"path": "v2.mp4"}, "prompt": "p"}]}',
                "exactly one",
            ),
            (b'{"items": [{"video_a": {"data": "***"}, "video_b": {"path": "v2.mp4"}, "prompt": "p"}]}', "base64"),
            (b'{"items": [], "surprise": 1}', "Extra inputs"),
        ]
        for body, message in raw:
            status, answer = post_raw(url + "/v1/compare", body)
            assert status == 422 and message in json.dumps(answer), (body, answer)
        assert client.compare("v2.mp4", "v1.mp4", "p").overall == 1  # still serving
        assert sum(len(b) for b in judge.batches) == 1  # no bad input reached the judge


def test_an_unreadable_video_makes_only_its_pairs_unscorable(video_root: Path) -> None:
    judge = StubJudge()
    with running(judge, video_root=str(video_root)) as url:
        client = JudgeClient(url, retries=0)
        verdicts = client.compare_batch(
            [
                ("missing.mp4", "v1.mp4", "p"),
                ("notes.mp4", "v1.mp4", "p"),
                (np.zeros((4, 8, 8), np.uint8), "v1.mp4", "p"),
                ("v3.mp4", "v1.mp4", "p"),
            ]
        )
        assert [v.ok for v in verdicts] == [False, False, False, True]
        assert "video not found" in (verdicts[0].reason or "") and "not a readable video" in (verdicts[1].reason or "")
        assert "frame array" in (verdicts[2].reason or "") and verdicts[3].overall == 1
        groups = client.score_groups(
            [("p", ["v2.mp4", "v6.mp4", "v4.mp4"]), ("q", ["v1.mp4", "notes.mp4", "v5.mp4", "v3.mp4"])]
        )
        first, second = groups
        assert first["scores"][1] > first["scores"][2] > first["scores"][0] and not first["unscorable"]
        assert second["scores"][1] is None and second["scores"][2] > second["scores"][3] > second["scores"][0]
        assert "not a readable video" in second["unscorable"]["1"][0]
        assert second["judge_calls"] == 8 - 4  # the 4 pairs with the unreadable video were not played
        assert client.metrics()["vr_judge_unreadable_videos"] == 4


def test_paths_refused_without_a_video_root() -> None:
    with running(StubJudge()) as url:
        with pytest.raises(JudgeServiceError, match="no video paths") as caught:
            JudgeClient(url, retries=0).compare("/etc/hostname", "/etc/hostname", "p")
        assert caught.value.status == 403


def test_cache_hit_returns_the_same_answer(video_root: Path) -> None:
    judge = StubJudge()
    with running(judge, video_root=str(video_root)) as url:
        client = JudgeClient(url)
        first = client.compare("v3.mp4", "v5.mp4", "p", both_orders=True)
        again = client.compare(str(video_root / "v3.mp4"), "v5.mp4", "p", both_orders=True)  # same file, other spelling
        array = np.full((6, 16, 16, 3), 7, np.uint8)
        inline = client.compare(array, "v1.mp4", "q")
        inline_again = client.compare(array.copy(), "v1.mp4", "q")
        assert not first.cached and again.cached and again.to_dict() | {"cached": False} == first.to_dict()
        assert not inline.cached and inline_again.cached and inline_again.winners == inline.winners
        assert sum(len(b) for b in judge.batches) == 3  # two orders + one inline; the repeats were cache hits
        assert client.metrics()["vr_judge_cache_hits"] == 3


def test_back_pressure_and_timeout(video_root: Path) -> None:
    with running(
        StubJudge(delay=1.0), video_root=str(video_root), max_queue=2, max_batch=1, request_timeout_s=0.3
    ) as url:
        client = JudgeClient(url, retries=0)
        with pytest.raises(JudgeServiceError, match="no answer within") as caught:  # admitted: the queue was empty
            client.compare_batch([("v1.mp4", "v2.mp4", "p"), ("v1.mp4", "v3.mp4", "p"), ("v1.mp4", "v4.mp4", "p")])
        assert caught.value.status == 504
        with ThreadPoolExecutor(2) as pool:
            busy = [pool.submit(client.compare, "v5.mp4", f"v{n}.mp4", "q") for n in (1, 2, 3)]
            time.sleep(0.1)
            with pytest.raises(JudgeServiceError, match="queue is full") as caught:
                client.compare("v6.mp4", "v1.mp4", "r")
            assert caught.value.status == 429
            for future in busy:
                with pytest.raises(JudgeServiceError):
                    future.result(10)
        assert client.health()["status"] == "ok"


def test_group_scores_openapi_and_health(video_root: Path) -> None:
    judge = StubJudge()
    with running(judge, video_root=str(video_root)) as url:
        client = JudgeClient(url)
        result = client.score_group("p", ["v2.mp4", "v6.mp4", "v4.mp4"])
        assert result["scores"][1] > result["scores"][2] > result["scores"][0] and result["judge_calls"] == 3
        assert set(result["dimensions"]) == {"TA", "VQ", "MQ", "OA"}
        assert result["first_position_share"] == pytest.approx(2 / 3)  # v6 > v4 > v2, shown (2, 6), (6, 4), (4, 2)
        anchored = client.score_group("p", ["v2.mp4", "v6.mp4"], mode="anchor", anchor="v4.mp4")
        assert anchored["scores"] == [0.0, 1.0] and anchored["pairs"] == [[0, -1], [-1, 0], [1, -1], [-1, 1]]
        refs = client.score_group("p", ["v2.mp4", "v6.mp4", "v4.mp4"], mode="anchor", anchor=["v3.mp4", "v5.mp4"])
        assert refs["scores"] == [0.0, 1.0, 0.5] and refs["judge_calls"] == 6
        sparse = client.score_group("p", [f"v{n}.mp4" for n in range(1, 7)], mode="sparse", k=2)
        assert sparse["judge_calls"] == 6 and sparse["scores"][5] > sparse["scores"][0]
        with pytest.raises(JudgeServiceError, match="group 0: sparse scoring needs an even number") as caught:
            client.score_group("p", ["v1.mp4", "v2.mp4"], mode="sparse", k=3)
        assert caught.value.status == 422
        health = client.health()
        assert health["status"] == "ok" and health["settings_key"] == "stub-settings"


def test_tiny_model_served_over_http(tiny_model_dir: Path) -> None:
    from agents.judge.judge import Judge, JudgeConfig

    answer = "<Snapshot>s</Snapshot><Think>t</Think><Answer>TA=2, VQ=2, MQ=1, OA=2</Answer>"
    judge = Judge.from_pretrained(
        tiny_model_dir,
        device="cpu",
        config=JudgeConfig(max_new_tokens=8, env={"frames_per_video": 16}),
        script=lambda record, turn: answer,
    )
    rng = np.random.default_rng(0)
    videos = [rng.integers(0, 255, (8, 32, 40, 3), dtype=np.uint8) for _ in range(3)]
    with running(judge) as url:
        client = JudgeClient(url, timeout=120)
        verdict = client.compare(videos[0], videos[1], "a boat", trace=True)
        assert verdict.ok and verdict.winners == {"TA": 2, "VQ": 2, "MQ": 1, "OA": 2}
        assert sum(verdict.distribution.values()) == pytest.approx(1.0) and verdict.trace[0].text == answer
        group = client.score_group("a boat", videos)  # the judge always says "the second video": no reward in that
        assert group["scores"] == [0.5, 0.5, 0.5] and group["first_position_share"] == 0.0
        assert group["verdicts"][0]["cached"] is True
    judge.close()
