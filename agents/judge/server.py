"""The judge as an HTTP service (FastAPI + uvicorn): batch compare and group scoring endpoints.

``create_app(judge, ServeConfig(...))`` builds the app; ``serve(judge, config)`` runs it (``vr-env
serve``). Endpoints: ``POST /v1/compare``, ``POST /v1/score_group``, ``GET /health``, ``GET /metrics``
(Prometheus text), ``GET /openapi.json`` (request and response models: :mod:`agents.judge.schema`).
Concurrent requests' comparisons are batched together and interleaved fairly
(:mod:`agents.judge.batcher`); admission is bounded by the backlog (429 with ``Retry-After``; 503 when
the worker is down); each request has a timeout (504) and its waiting work is dropped when its client
disconnects; answers are cached by the videos' content hashes, the prompt and the judge's settings.
Videos: paths under ``video_root`` only, or inline base64 up to ``max_inline_bytes`` (spooled per
request, deleted when the request ends); an unreadable video makes only its pairs unscorable. See
docs/judge-service.md.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import replace
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from agents.judge.batcher import Batcher, QueueFull, ServiceStopped
from agents.judge.body_limit import BodyLimit
from agents.judge.config import ServeConfig
from agents.judge.groups import group_plan, summarize
from agents.judge.inputs import ResolvedVideo, VideoInputError, VideoResolver
from agents.judge.judge import Comparison, Judge
from agents.judge.metrics import RequestMetrics
from agents.judge.schema import (
    ERRORS,
    MAX_GROUP,
    MAX_ITEMS,
    MAX_REFERENCES,
    CompareRequest,
    CompareResponse,
    HealthResponse,
    ScoreGroupRequest,
    ScoreGroupResponse,
    VideoIn,
)
from agents.judge.verdict import Verdict, combine_orders

__all__ = ["MAX_GROUP", "MAX_ITEMS", "JudgeService", "create_app", "serve"]

#: Longest excerpt of an invalid value echoed back in a 422, in characters.
EXCERPT = 120
UNREADABLE = "unreadable video:"
#: How often a waiting request checks whether its client is still connected, in seconds.
DISCONNECT_POLL_S = 0.25


class ClientGone(Exception):
    """The client disconnected before its answer; its waiting comparisons were dropped."""


class Slot:
    """A request's video: resolved, or the reason it is unreadable (its pairs become unscorable)."""

    def __init__(self, video: ResolvedVideo | None = None, problem: str | None = None) -> None:
        self.video, self.problem = video, problem


class JudgeService:
    """Holds the judge, the batcher, the video resolver and the counters."""

    def __init__(self, judge: Judge, config: ServeConfig) -> None:
        self.judge = judge
        self.config = config
        self.settings_key = judge.settings_key()
        self.batcher = Batcher(
            judge,
            max_queue=config.max_queue,
            max_batch=config.max_batch,
            wait_s=config.batch_wait_ms / 1000.0,
            cache_entries=config.cache_entries,
        )
        self._spool = tempfile.TemporaryDirectory(prefix="vr-judge-spool-")
        self.resolver = VideoResolver(config.video_root, self._spool.name, config.max_inline_bytes)
        self.counters: Counter[str] = Counter()
        self.started = time.time()
        self._ids = itertools.count()

    def start(self) -> None:
        self.batcher.start()

    def stop(self) -> None:
        self.batcher.stop()
        self._spool.cleanup()

    def both(self, flag: bool | None) -> bool:
        return self.judge.config.both_orders if flag is None else flag

    def request_id(self) -> str:
        return f"request-{next(self._ids)}"

    def key(self, first: ResolvedVideo, second: ResolvedVideo, prompt: str) -> str:
        payload = json.dumps([self.settings_key, first.digest, second.digest, prompt])
        return hashlib.sha256(payload.encode()).hexdigest()

    async def resolve(self, video: VideoIn, held: list[ResolvedVideo]) -> Slot:
        """Check one video; the request's fault raises (4xx), the data's fault gives an unreadable slot."""
        try:
            resolved = await run_in_threadpool(self.resolver.resolve, video.path, video.data, video.format)
        except VideoInputError as error:
            if not error.unreadable:
                raise
            self.counters["unreadable_videos"] += 1
            return Slot(problem=str(error))
        held.append(resolved)
        return Slot(resolved)

    async def judge_pairs(
        self, pairs: list[tuple[Slot, Slot, str]], both: bool, owner: str, request: Request
    ) -> list[Verdict]:
        """Verdicts of ordered pairs through the batcher (and cache), both orders combined if asked."""
        jobs: list[tuple[str, Comparison]] = []
        for first, second, prompt in pairs:
            if first.video is None or second.video is None:
                continue
            jobs.append(
                (self.key(first.video, second.video, prompt), Comparison(first.video.ref, second.video.ref, prompt))
            )
            if both:
                jobs.append(
                    (self.key(second.video, first.video, prompt), Comparison(second.video.ref, first.video.ref, prompt))
                )
        results = await self._run(jobs, owner, request) if jobs else []
        out: list[Verdict] = []
        step = 2 if both else 1
        index = 0
        for first, second, _ in pairs:
            if first.video is None or second.video is None:
                out.append(Verdict.unscorable(f"{UNREADABLE} {first.problem or second.problem}"))
                continue
            found = results[index : index + step]
            index += step
            out.append(found[0] if not both else _combined(found[0], found[1]))
        return out

    async def _run(self, jobs: list[tuple[str, Comparison]], owner: str, request: Request) -> list[Verdict]:
        try:
            submitted = self.batcher.submit(jobs, owner=owner)
        except QueueFull as error:
            raise HTTPException(429, str(error), headers={"Retry-After": "1"}) from None
        except ServiceStopped as error:
            raise HTTPException(503, str(error)) from None
        waits = [asyncio.shield(asyncio.wrap_future(future)) for _, future in submitted]
        gathered = asyncio.ensure_future(asyncio.gather(*waits))
        deadline = time.monotonic() + self.config.request_timeout_s
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise HTTPException(504, f"no answer within {self.config.request_timeout_s} s; retry later")
                done, _ = await asyncio.wait({gathered}, timeout=min(DISCONNECT_POLL_S, left))
                if done:
                    results = gathered.result()
                    break
                if await request.is_disconnected():
                    self.counters["client_gone"] += 1
                    raise ClientGone()
        except ServiceStopped as error:
            raise HTTPException(503, str(error)) from None
        except RuntimeError as error:
            raise HTTPException(500, str(error)) from None
        finally:
            if not gathered.done():
                gathered.cancel()
                for job, _ in submitted:
                    self.batcher.release(job)
        return [replace(v, cached=job is None) for (job, _), v in zip(submitted, results, strict=True)]


def _combined(forward: Verdict, backward: Verdict) -> Verdict:
    return replace(combine_orders(forward, backward), cached=forward.cached and backward.cached)


def _calls(verdicts: list[Verdict], both: bool) -> int:
    """Judge episodes behind ``verdicts`` (pairs with an unreadable video are not played)."""
    played = sum(not (v.reason or "").startswith(UNREADABLE) for v in verdicts)
    return played * (2 if both else 1)


def _excerpt(value: Any) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value, default=str)[: EXCERPT + 1]
    return text if len(text) <= EXCERPT else text[:EXCERPT] + f"... ({type(value).__name__}, truncated)"


def create_app(judge: Judge, config: ServeConfig | None = None) -> Any:
    """The app serving ``judge`` (an ASGI app: request metrics around the body limit around FastAPI)."""
    config = config or ServeConfig()
    service = JudgeService(judge, config)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        service.start()
        try:
            yield
        finally:
            service.stop()

    app = FastAPI(
        title="vr-env judge",
        version="2",
        description="A trained VR-Thinker judge as a reward: pairwise verdicts and group scores for video generators.",
        lifespan=lifespan,
    )
    app.state.service = service

    @app.exception_handler(VideoInputError)
    async def bad_video(request: Request, error: VideoInputError) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=error.status)

    @app.exception_handler(ClientGone)
    async def client_gone(request: Request, error: ClientGone) -> Response:
        return Response(status_code=499)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        detail = [
            {
                "loc": [str(p) if not isinstance(p, int) else p for p in e.get("loc", ())],
                "msg": str(e.get("msg", ""))[:EXCERPT],
                "type": str(e.get("type", "")),
                "input_excerpt": _excerpt(e.get("input")),
            }
            for e in error.errors()[:20]
        ]
        return JSONResponse({"detail": detail}, status_code=422)

    @app.post("/v1/compare", response_model=CompareResponse, responses=ERRORS)  # type: ignore[arg-type]
    async def compare(body: CompareRequest, request: Request) -> dict[str, Any]:
        """Judge each item's two videos for its prompt; one verdict per item, in order (unreadable: unscorable)."""
        start = time.perf_counter()
        held: list[ResolvedVideo] = []
        try:
            pairs = []
            for item in body.items:
                pairs.append(
                    (await service.resolve(item.video_a, held), await service.resolve(item.video_b, held), item.prompt)
                )
            both = service.both(body.both_orders)
            verdicts = await service.judge_pairs(pairs, both, service.request_id(), request)
        finally:
            service.resolver.release(held)
        return {
            "verdicts": [v.to_dict(trace=body.trace) for v in verdicts],
            "judge_calls": _calls(verdicts, both),
            "seconds": time.perf_counter() - start,
        }

    @app.post("/v1/score_group", response_model=ScoreGroupResponse, responses=ERRORS)  # type: ignore[arg-type]
    async def score_group(body: ScoreGroupRequest, request: Request) -> dict[str, Any]:
        """Scores per video of each group (every dimension), position-balanced; see docs/judge-service.md."""
        start = time.perf_counter()
        both = service.both(body.both_orders)
        held: list[ResolvedVideo] = []
        try:
            plans, pairs = await _plan_groups(service, body, held)
            verdicts = await service.judge_pairs(pairs, both, service.request_id(), request)
        finally:
            service.resolver.release(held)
        results, offset = [], 0
        for plan, in_group, n in plans:
            chunk = verdicts[offset : offset + len(plan)]
            offset += len(plan)
            result = summarize(n, body.mode, plan, chunk, soft=body.soft, anchor=in_group, orders=body.orders)
            result.judge_calls = sum(
                v.ok or v.reason is None or not v.reason.startswith("unreadable video") for v in chunk
            ) * (2 if both else 1)
            result.seconds = time.perf_counter() - start
            results.append(result.to_dict(trace=body.trace))
        return {"groups": results, "seconds": time.perf_counter() - start}

    @app.get("/health", response_model=HealthResponse, responses={503: {"model": HealthResponse}})
    async def health() -> JSONResponse:
        """Liveness: 200 while the judge worker runs, 503 otherwise."""
        alive = service.batcher.alive
        body = {
            "status": "ok" if alive else "down",
            "model": judge.model_id,
            "settings_key": service.settings_key,
            "queue_depth": service.batcher.queue_depth,
            "uptime_s": time.time() - service.started,
        }
        return JSONResponse(body, status_code=200 if alive else 503)

    metrics_layer = RequestMetrics(BodyLimit(app, limit=config.max_request_bytes))

    @app.get("/metrics", response_class=PlainTextResponse)
    async def metrics() -> str:
        """Prometheus text: requests by path and status, latency histogram, batching, cache, queue, judge time."""
        extra = {**service.counters, "spool_files": float(service.resolver.spool_files())}
        return metrics_layer.render(service.batcher.snapshot(), extra)

    metrics_layer.state = app.state  # type: ignore[attr-defined]
    return metrics_layer


async def _plan_groups(
    service: JudgeService, body: ScoreGroupRequest, held: list[ResolvedVideo]
) -> tuple[list[tuple[list[tuple[int, int]], int | None, int]], list[tuple[Slot, Slot, str]]]:
    """Each group's schedule and the ordered video pairs of the whole request (422 names a bad group)."""
    plans: list[tuple[list[tuple[int, int]], int | None, int]] = []
    pairs: list[tuple[Slot, Slot, str]] = []
    for g, group in enumerate(body.groups):
        anchor: Any = group.anchor
        if isinstance(anchor, list) and len(anchor) > MAX_REFERENCES:
            raise HTTPException(422, f"group {g}: at most {MAX_REFERENCES} reference videos, got {len(anchor)}")
        if body.mode != "anchor":
            anchor = None
        try:
            plan, in_group, _ = group_plan(len(group.videos), body.mode, anchor, orders=body.orders, k=body.k)
        except ValueError as error:
            raise HTTPException(422, f"group {g}: {error}") from None
        videos = [await service.resolve(v, held) for v in group.videos]
        references: list[Slot] = []
        if in_group is None and anchor is not None:
            for ref in anchor if isinstance(anchor, list) else [anchor]:
                references.append(await service.resolve(ref, held))
        for i, j in plan:
            first = videos[i] if i >= 0 else references[-1 - i]
            second = videos[j] if j >= 0 else references[-1 - j]
            pairs.append((first, second, group.prompt))
        plans.append((plan, in_group, len(videos)))
    return plans, pairs


def serve(judge: Judge, config: ServeConfig | None = None, **uvicorn_kwargs: Any) -> None:
    """Run the service with uvicorn until interrupted (one worker process: the model is loaded once)."""
    import uvicorn

    config = config or ServeConfig()
    if config.threads is not None:
        import torch

        torch.set_num_threads(config.threads)
    uvicorn.run(create_app(judge, config), host=config.host, port=config.port, **uvicorn_kwargs)


@contextmanager
def serve_in_thread(judge: Judge, config: ServeConfig | None = None, start_timeout: float = 60.0) -> Iterator[str]:
    """Serve ``judge`` on a free loopback port in a background thread; yields the base URL.

    For an in-process reward (a training script that calls the judge over HTTP) and for tests. On
    exit the server is asked to stop and its thread joined.
    """
    import socket
    import threading

    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(judge, config), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout
    while not server.started and time.monotonic() < deadline and thread.is_alive():
        time.sleep(0.05)
    try:
        if not server.started:
            raise RuntimeError(f"the judge service did not start within {start_timeout:g} s")
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()
