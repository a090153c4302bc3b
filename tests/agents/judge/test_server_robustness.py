"""Service holes: bad paths as 4xx in the metrics, bounded error excerpts, admission of any schema-allowed
request, fair interleaving, cancelling work of a client that left, per-request spool cleanup, response
models in the OpenAPI schema, the --threads flag."""

from __future__ import annotations

import base64
import json
import os
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse

import pytest

from agents.judge.client import JudgeClient, JudgeServiceError
from tests.agents.judge.serving import post_raw, running
from tests.agents.judge.stubs import StubJudge


def test_bad_paths_are_4xx_naming_the_problem_and_every_status_is_in_the_metrics(video_root: Path) -> None:
    loop = video_root / "loop.mp4"
    if not loop.is_symlink():
        os.symlink("loop.mp4", loop)
    with running(StubJudge(), video_root=str(video_root), max_request_bytes=100_000) as url:
        client = JudgeClient(url, retries=0)
        cases = [
            ("loop.mp4", "cannot be resolved"),
            ("~nosuchuser/x.mp4", "home folders are not expanded"),
            ("a" * 300 + ".mp4", "not usable: File name too long"),
        ]
        for path, message in cases:
            with pytest.raises(JudgeServiceError) as caught:
                client.compare(path, "v1.mp4", "p")
            assert caught.value.status == 422 and message in caught.value.message, caught.value
        status, _ = post_raw(url + "/v1/compare", b"{" + b" " * 200_000 + b"}")
        assert status == 413
        client.compare("v2.mp4", "v1.mp4", "p")
        text = str(client.request("GET", "/metrics"))
        metrics = client.metrics()
    assert metrics['vr_judge_requests_total{path="/v1/compare",status="422"}'] == 3
    assert metrics['vr_judge_requests_total{path="/v1/compare",status="413"}'] == 1
    assert metrics['vr_judge_requests_total{path="/v1/compare",status="200"}'] == 1
    assert metrics['vr_judge_request_seconds_count{path="/v1/compare"}'] == 5
    assert metrics['vr_judge_request_seconds_bucket{path="/v1/compare",le="+Inf"}'] == 5
    assert "# TYPE vr_judge_request_seconds histogram" in text and "# TYPE vr_judge_requests_total counter" in text
    for line in text.splitlines():  # every sample has HELP and TYPE lines for its metric
        if line and not line.startswith("#"):
            name = line.split("{")[0].split(" ")[0]
            base = name.removesuffix("_bucket").removesuffix("_sum").removesuffix("_count")
            assert f"# HELP {base} " in text and f"# TYPE {base} " in text, line


def test_a_huge_invalid_body_gets_a_bounded_answer_naming_the_field(video_root: Path) -> None:
    with running(StubJudge(), video_root=str(video_root)) as url:
        huge = "x" * 10_000_000
        body = json.dumps({"items": [{"video_a": {"path": "v1.mp4"}, "video_b": {"path": "v2.mp4"}, "prompt": huge}]})
        status, answer = post_raw(url + "/v1/compare", body.encode())
    assert status == 422 and len(json.dumps(answer)) < 2_000
    error = answer["detail"][0]
    assert error["loc"] == ["body", "items", 0, "prompt"] and error["type"] == "string_too_long"
    assert error["input_excerpt"].startswith("xxx") and "truncated" in error["input_excerpt"]


def test_a_64_video_round_robin_group_is_admitted_with_the_default_queue(video_root: Path) -> None:
    judge = StubJudge()
    with running(judge, video_root=str(video_root)) as url:  # max_queue 512 < 2,048 comparisons
        videos = [f"v{1 + n % 6}.mp4" for n in range(64)]
        result = JudgeClient(url, retries=0, timeout=120).score_group("p", videos)
    assert result["judge_calls"] == 64 * 63 // 2 + 32 and None not in result["scores"]


def test_a_small_request_is_not_stuck_behind_a_big_one(video_root: Path) -> None:
    judge = StubJudge(delay=0.1)
    with running(judge, video_root=str(video_root), max_batch=4, batch_wait_ms=1) as url:
        client = JudgeClient(url, retries=0, timeout=60)
        with ThreadPoolExecutor(2) as pool:
            big = pool.submit(client.score_group, "big", [f"v{1 + n % 6}.mp4" for n in range(12)], both_orders=True)
            time.sleep(0.3)  # the big request's 144 comparisons are queued and running
            began = time.perf_counter()
            small = client.compare("v6.mp4", "v1.mp4", "small")
            waited = time.perf_counter() - began
            assert not big.done() and small.overall == 1
            assert waited < 2.0, waited  # FIFO would wait for all 36 batches (3.6 s)
            big.result(60)


def _leave_early(url: str, body: bytes, seconds: float) -> None:
    """Send a request and hang up before the answer."""
    where = urlparse(url)
    with socket.create_connection((where.hostname, where.port)) as sock:
        head = f"POST /v1/compare HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        sock.sendall(head.encode() + body)
        time.sleep(seconds)


def test_work_of_a_client_that_left_is_dropped_and_the_spool_is_cleaned_per_request(video_root: Path) -> None:
    judge = StubJudge(delay=0.2)
    with running(judge, video_root=str(video_root), max_batch=2, batch_wait_ms=1) as url:
        client = JudgeClient(url, retries=0)
        items = [
            {"video_a": {"path": f"v{a}.mp4"}, "video_b": {"path": "v1.mp4"}, "prompt": f"gone {a}"}
            for a in range(2, 7)
        ]
        items += [
            {"video_a": {"path": "v1.mp4"}, "video_b": {"path": f"v{a}.mp4"}, "prompt": "gone"} for a in range(2, 7)
        ]
        _leave_early(url, json.dumps({"items": items}).encode(), 0.3)
        time.sleep(1.0)
        metrics = client.metrics()
        judged = sum(len(b) for b in judge.batches)
        assert judged <= 6 and metrics["vr_judge_dropped"] >= 4, (judged, metrics)
        assert metrics['vr_judge_requests_total{path="/v1/compare",status="499"}'] == 1
        assert metrics["vr_judge_client_gone"] == 1
        mp4 = base64.b64encode((video_root / "v3.mp4").read_bytes()).decode()
        inline = {"items": [{"video_a": {"data": mp4, "format": "mp4"}, "video_b": {"path": "v1.mp4"}, "prompt": "p"}]}
        status, answer = post_raw(url + "/v1/compare", json.dumps(inline).encode())
        assert status == 200 and answer["verdicts"][0]["overall"] == 1
        assert client.metrics()["vr_judge_spool_files"] == 0  # deleted when its request ended


def test_openapi_publishes_the_response_models(video_root: Path) -> None:
    with running(StubJudge(), video_root=str(video_root)) as url:
        schema = JudgeClient(url).request("GET", "/openapi.json")
    components = schema["components"]["schemas"]
    assert {"CompareResponse", "ScoreGroupResponse", "VerdictOut", "GroupScoresOut", "ErrorResponse"} <= set(components)
    compare = schema["paths"]["/v1/compare"]["post"]["responses"]
    assert compare["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/CompareResponse")
    for status in ("403", "413", "422", "429", "504"):
        assert compare[status]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorResponse")
    group = components["GroupScoresOut"]["properties"]
    assert {"scores", "dimensions", "first_position_share", "order_effect"} <= set(group)


def test_threads_flag_sets_the_torch_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch
    import uvicorn

    from agents.judge.server import serve
    from vr_env.cli import build_parser
    from vr_env.commands.dataclass_args import from_args

    args = build_parser().parse_args(["serve", "--model", "m", "--threads", "1"])
    from agents.judge.config import ServeConfig

    config = from_args(ServeConfig, args)
    seen: list[int] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.append(torch.get_num_threads()))
    monkeypatch.setattr(torch, "set_num_threads", lambda n: seen.append(-n))
    serve(StubJudge(), config)  # type: ignore[arg-type]
    assert config.threads == 1 and seen[0] == -1


def test_stopping_fails_waiting_work_at_once() -> None:
    from agents.judge.batcher import Batcher, ServiceStopped
    from agents.judge.judge import Comparison

    batcher = Batcher(StubJudge(delay=0.5), max_batch=1, wait_s=0.0)  # type: ignore[arg-type]
    batcher.start()
    futures = [f for _, f in batcher.submit([(f"k{i}", Comparison("v1.mp4", "v2.mp4", f"p{i}")) for i in range(20)])]
    time.sleep(0.1)
    began = time.perf_counter()
    batcher.stop()
    assert time.perf_counter() - began < 2.0  # the running batch finishes; the 19 waiting ones do not run
    failed = [f for f in futures if f.exception(1) is not None]
    assert len(failed) >= 18 and all(isinstance(f.exception(), ServiceStopped) for f in failed)
