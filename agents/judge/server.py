"""The judge as an HTTP service (FastAPI + uvicorn): batch compare and group scoring endpoints.

``create_app(judge, ServeConfig(...))`` builds the app; ``serve(judge, config)`` runs it (``vr-env
serve``). Endpoints: ``POST /v1/compare``, ``POST /v1/score_group``, ``GET /health``, ``GET /metrics``
(Prometheus text), ``GET /openapi.json``. Concurrent requests' comparisons are batched together
(:mod:`agents.judge.batcher`); the queue is bounded (429 with ``Retry-After`` when full, 503 when the
worker is down); each request has a timeout (504); answers are cached by the videos' content hashes,
the prompt and the judge's settings. Videos: paths under ``video_root`` only, or inline base64 up to
``max_inline_bytes``; request bodies over ``max_request_bytes`` get 413. See docs/judge-service.md.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any, Literal

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from agents.judge.batcher import Batcher, QueueFull, ServiceStopped
from agents.judge.config import ServeConfig
from agents.judge.groups import GroupScores, aggregate, group_pairs
from agents.judge.inputs import INLINE_FORMATS, ResolvedVideo, VideoInputError, VideoResolver
from agents.judge.judge import Comparison, Judge
from agents.judge.verdict import Verdict, combine_orders

MAX_ITEMS = 256
MAX_GROUP = 64
#: An oversize body is read and discarded up to this many times the limit before the 413.
DRAIN_FACTOR = 8


# ------------------------------------------------------------------------------------ schema


class VideoIn(BaseModel):
    """A video: ``path`` (under the server's video root) or ``data`` (base64 file bytes, or ``npy``)."""

    model_config = ConfigDict(extra="forbid")
    path: str | None = Field(default=None, max_length=4096, description="path relative to (or under) the video root")
    data: str | None = Field(default=None, description="base64 of the video file (or of a .npy frame array)")
    format: str = Field(default="mp4", description=f"format of 'data': one of {list(INLINE_FORMATS)}")


class CompareItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    video_a: VideoIn
    video_b: VideoIn
    prompt: str = Field(min_length=1, max_length=8192)


class CompareRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[CompareItem] = Field(min_length=1, max_length=MAX_ITEMS)
    both_orders: bool | None = Field(default=None, description="judge both orders (default: the server's setting)")
    trace: bool = Field(default=False, description="include the reasoning traces")


class GroupIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt: str = Field(min_length=1, max_length=8192)
    videos: list[VideoIn] = Field(min_length=1, max_length=MAX_GROUP)
    anchor: VideoIn | int | None = Field(default=None, description="anchor mode: an index into videos or a video")


class ScoreGroupRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    groups: list[GroupIn] = Field(min_length=1, max_length=MAX_ITEMS)
    mode: Literal["round_robin", "anchor"] = "round_robin"
    soft: bool = Field(default=False, description="use preference probabilities instead of win/tie/loss")
    both_orders: bool | None = None
    trace: bool = False


# ------------------------------------------------------------------------------------ service


class JudgeService:
    """Holds the judge, the batcher, the video resolver and the request counters."""

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
        self.requests: Counter[tuple[str, int]] = Counter()
        self.latency_sum: dict[str, float] = {}
        self.started = time.time()

    def start(self) -> None:
        self.batcher.start()

    def stop(self) -> None:
        self.batcher.stop()
        self._spool.cleanup()

    def both(self, flag: bool | None) -> bool:
        return self.judge.config.both_orders if flag is None else flag

    def key(self, first: ResolvedVideo, second: ResolvedVideo, prompt: str) -> str:
        payload = json.dumps([self.settings_key, first.digest, second.digest, prompt])
        return hashlib.sha256(payload.encode()).hexdigest()

    async def resolve(self, video: VideoIn) -> ResolvedVideo:
        return await run_in_threadpool(self.resolver.resolve, video.path, video.data, video.format)

    async def judge_pairs(self, pairs: list[tuple[ResolvedVideo, ResolvedVideo, str]], both: bool) -> list[Verdict]:
        """Verdicts of ordered pairs through the batcher (and cache), both orders combined if asked."""
        jobs: list[tuple[str, Comparison]] = []
        for first, second, prompt in pairs:
            jobs.append((self.key(first, second, prompt), Comparison(first.ref, second.ref, prompt)))
            if both:
                jobs.append((self.key(second, first, prompt), Comparison(second.ref, first.ref, prompt)))
        try:
            submitted = self.batcher.submit(jobs)
        except QueueFull as error:
            raise HTTPException(429, str(error), headers={"Retry-After": "1"}) from None
        except ServiceStopped as error:
            raise HTTPException(503, str(error)) from None
        waits = [asyncio.shield(asyncio.wrap_future(future)) for _, future in submitted]
        try:
            results = await asyncio.wait_for(asyncio.gather(*waits), self.config.request_timeout_s)
        except TimeoutError:
            for job, _ in submitted:
                self.batcher.release(job)
            raise HTTPException(504, f"no answer within {self.config.request_timeout_s} s; retry later") from None
        except ServiceStopped as error:
            raise HTTPException(503, str(error)) from None
        except RuntimeError as error:
            raise HTTPException(500, str(error)) from None
        single = [replace(v, cached=job is None) for (job, _), v in zip(submitted, results, strict=True)]
        if not both:
            return single
        return [_combined(single[2 * i], single[2 * i + 1]) for i in range(len(pairs))]


def _combined(forward: Verdict, backward: Verdict) -> Verdict:
    return replace(combine_orders(forward, backward), cached=forward.cached and backward.cached)


# ------------------------------------------------------------------------------------ app


class BodyLimit:
    """ASGI middleware: refuse request bodies over ``limit`` bytes with 413 (declared or streamed)."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = bytearray()
        over, received = False, 0
        more = True
        # Read the whole body (discarding it once over the limit, up to DRAIN_FACTOR x the limit) so the
        # client, still sending, gets the 413 instead of a reset connection.
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            more = message.get("more_body", False)
            if not over:
                body.extend(chunk)
                if len(body) > self.limit:
                    over, received = True, len(body)
                    body = bytearray()
            else:
                received += len(chunk)
                if received > DRAIN_FACTOR * self.limit:
                    break
        if over:
            payload = json.dumps({"detail": f"request body is over the limit of {self.limit} bytes"}).encode()
            headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
            await send({"type": "http.response.start", "status": 413, "headers": headers})
            await send({"type": "http.response.body", "body": payload})
            return
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def create_app(judge: Judge, config: ServeConfig | None = None) -> FastAPI:
    """The FastAPI app serving ``judge`` (the worker starts and stops with the app's lifespan)."""
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
        version="1",
        description="A trained VR-Thinker judge as a reward: pairwise verdicts and group scores for video generators.",
        lifespan=lifespan,
    )
    app.state.service = service

    @app.middleware("http")
    async def count(request: Request, call_next: Callable[[Request], Awaitable[Any]]) -> Any:
        start = time.perf_counter()
        response = await call_next(request)
        service.requests[(request.url.path, response.status_code)] += 1
        path = request.url.path
        service.latency_sum[path] = service.latency_sum.get(path, 0.0) + time.perf_counter() - start
        return response

    app.add_middleware(BodyLimit, limit=config.max_request_bytes)

    @app.exception_handler(VideoInputError)
    async def bad_video(request: Request, error: VideoInputError) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=error.status)

    @app.post("/v1/compare")
    async def compare(request: CompareRequest) -> dict[str, Any]:
        """Judge each item's two videos for its prompt; one verdict per item, in order."""
        start = time.perf_counter()
        pairs = []
        for item in request.items:
            pairs.append((await service.resolve(item.video_a), await service.resolve(item.video_b), item.prompt))
        both = service.both(request.both_orders)
        verdicts = await service.judge_pairs(pairs, both)
        return {
            "verdicts": [v.to_dict(trace=request.trace) for v in verdicts],
            "judge_calls": len(pairs) * (2 if both else 1),
            "seconds": time.perf_counter() - start,
        }

    @app.post("/v1/score_group")
    async def score_group(request: ScoreGroupRequest) -> dict[str, Any]:
        """One scalar per video of each group: round-robin win rate or against an anchor."""
        start = time.perf_counter()
        both = service.both(request.both_orders)
        plans: list[tuple[list[tuple[int, int]], int | None, int]] = []
        pairs: list[tuple[ResolvedVideo, ResolvedVideo, str]] = []
        for g, group in enumerate(request.groups):
            videos = [await service.resolve(v) for v in group.videos]
            anchor_video = None
            in_group = group.anchor if isinstance(group.anchor, int) else None
            if request.mode == "anchor":
                if group.anchor is None:
                    raise HTTPException(422, f"group {g}: anchor mode needs 'anchor' (an index or a video)")
                if isinstance(group.anchor, VideoIn):
                    anchor_video = await service.resolve(group.anchor)
            elif len(videos) < 2:
                raise HTTPException(422, f"group {g}: round-robin scoring needs at least 2 videos")
            try:
                plan = group_pairs(len(videos), request.mode, in_group)
            except ValueError as error:
                raise HTTPException(422, f"group {g}: {error}") from None
            for i, j in plan:
                second = videos[j] if j >= 0 else anchor_video
                assert second is not None
                pairs.append((videos[i], second, group.prompt))
            plans.append((plan, in_group, len(videos)))
        verdicts = await service.judge_pairs(pairs, both)
        results, offset = [], 0
        for plan, in_group, n in plans:
            chunk = verdicts[offset : offset + len(plan)]
            offset += len(plan)
            scores, problems = aggregate(n, plan, chunk, request.soft, in_group if request.mode == "anchor" else None)
            result = GroupScores(
                scores,
                request.mode,
                plan,
                chunk,
                judge_calls=len(plan) * (2 if both else 1),
                seconds=time.perf_counter() - start,
                unscorable=problems,
            )
            results.append(result.to_dict(trace=request.trace))
        return {"groups": results, "seconds": time.perf_counter() - start}

    @app.get("/health")
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

    @app.get("/metrics", response_class=PlainTextResponse)
    async def metrics() -> str:
        """Prometheus text: requests by path and status, batching, cache, queue, judge time."""
        lines = []
        for (path, status), n in sorted(service.requests.items()):
            lines.append(f'vr_judge_requests_total{{path="{path}",status="{status}"}} {n}')
        for path, seconds in sorted(service.latency_sum.items()):
            lines.append(f'vr_judge_request_seconds_sum{{path="{path}"}} {seconds:.6f}')
        for name, value in sorted(service.batcher.snapshot().items()):
            lines.append(f"vr_judge_{name} {value}")
        return "\n".join(lines) + "\n"

    return app


def serve(judge: Judge, config: ServeConfig | None = None, **uvicorn_kwargs: Any) -> None:
    """Run the service with uvicorn until interrupted (one worker process: the model is loaded once)."""
    import uvicorn

    config = config or ServeConfig()
    uvicorn.run(create_app(judge, config), host=config.host, port=config.port, **uvicorn_kwargs)
