"""Request metrics of the judge service in the Prometheus text format (with ``# HELP`` / ``# TYPE`` lines).

:class:`RequestMetrics` is the outermost ASGI layer, so it sees every answer: 2xx, the 4xx of input
checks, the 413 of the body limit, 500 of an unexpected error (counted, then re-raised), and 499
for a client that left before its answer. Per path (known endpoints; anything else is ``other``)
and status: ``vr_judge_requests_total``; per path: the latency histogram
``vr_judge_request_seconds``.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections import Counter
from collections.abc import Iterable, MutableMapping
from typing import Any

PATHS = ("/v1/compare", "/v1/score_group", "/health", "/metrics", "/openapi.json", "/docs")
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)

#: Batcher counters (monotonic) and gauges, with their help text.
COUNTERS = {
    "batches": "judge batches run",
    "comparisons": "single-order comparisons judged",
    "episodes": "judge episodes played",
    "generate_calls": "generation calls of the backend",
    "cache_hits": "comparisons answered from the cache",
    "cache_misses": "comparisons not in the cache",
    "joined": "comparisons that joined an identical waiting or running one",
    "rejected": "requests refused because the queue was full (429)",
    "dropped": "waiting comparisons dropped because every waiter left (timeout or disconnect)",
    "batch_errors": "batches the backend failed",
    "unreadable_videos": "videos in requests that could not be read (their pairs unscorable)",
    "client_gone": "requests whose client disconnected before the answer",
}
GAUGES = {
    "queue_depth": "comparisons waiting",
    "pending": "comparisons waiting or running",
    "cache_entries": "verdicts in the cache",
    "batch_size_max": "largest batch so far",
    "batch_size_mean": "mean batch size",
    "judge_seconds": "seconds spent in judge batches",
    "spool_files": "inline videos in the spool folder",
}


class Histogram:
    """Cumulative-bucket latency histogram per label value (thread-safe)."""

    def __init__(self, buckets: Iterable[float] = BUCKETS) -> None:
        self.buckets = tuple(buckets)
        self._counts: dict[str, list[int]] = {}
        self._sums: dict[str, float] = {}
        self._lock = threading.Lock()

    def observe(self, label: str, seconds: float) -> None:
        with self._lock:
            counts = self._counts.setdefault(label, [0] * (len(self.buckets) + 1))
            counts[bisect.bisect_left(self.buckets, seconds)] += 1
            self._sums[label] = self._sums.get(label, 0.0) + seconds

    def lines(self, name: str, label: str) -> list[str]:
        out = []
        with self._lock:
            for value in sorted(self._counts):
                running = 0
                for bound, count in zip((*self.buckets, float("inf")), self._counts[value], strict=True):
                    running += count
                    le = "+Inf" if bound == float("inf") else repr(bound)
                    out.append(f'{name}_bucket{{{label}="{value}",le="{le}"}} {running}')
                out.append(f'{name}_sum{{{label}="{value}"}} {self._sums[value]:.6f}')
                out.append(f'{name}_count{{{label}="{value}"}} {running}')
        return out


class RequestMetrics:
    """ASGI middleware counting every answer by path and status, with a latency histogram."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.requests: Counter[tuple[str, int]] = Counter()
        self.latency = Histogram()
        self._lock = threading.Lock()

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        label = path if path in PATHS else "other"
        status = [499]  # no answer started: the client left
        start = time.perf_counter()

        async def record(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, record)
        except Exception:
            status[0] = 500
            raise
        finally:
            with self._lock:
                self.requests[(label, status[0])] += 1
            self.latency.observe(label, time.perf_counter() - start)

    def render(self, batcher: dict[str, Any], extra: dict[str, float]) -> str:
        """The whole ``/metrics`` page."""
        lines = [
            "# HELP vr_judge_requests_total HTTP requests answered, by path and status",
            "# TYPE vr_judge_requests_total counter",
        ]
        with self._lock:
            for (path, status), n in sorted(self.requests.items()):
                lines.append(f'vr_judge_requests_total{{path="{path}",status="{status}"}} {n}')
        lines += [
            "# HELP vr_judge_request_seconds latency of HTTP requests, by path",
            "# TYPE vr_judge_request_seconds histogram",
            *self.latency.lines("vr_judge_request_seconds", "path"),
        ]
        values = {**batcher, **extra}
        for name, help_text in COUNTERS.items():
            lines += [f"# HELP vr_judge_{name} {help_text}", f"# TYPE vr_judge_{name} counter"]
            lines.append(f"vr_judge_{name} {values.get(name, 0)}")
        for name, help_text in GAUGES.items():
            lines += [f"# HELP vr_judge_{name} {help_text}", f"# TYPE vr_judge_{name} gauge"]
            lines.append(f"vr_judge_{name} {values.get(name, 0)}")
        return "\n".join(lines) + "\n"
