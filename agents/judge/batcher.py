"""Dynamic batching for the judge server: concurrent requests' comparisons become one judge run.

Every comparison is one single-order job with a cache key. :meth:`Batcher.submit` answers from the
cache, joins an identical job already waiting or running, or queues a new one in its request's own
queue. Admission is bounded by the backlog: a request is taken while fewer than ``max_queue`` jobs
wait, however many it brings (so any request the schema allows is admitted once the queue drains);
otherwise :class:`QueueFull` is the caller's back-pressure signal. One worker thread waits for up
to ``wait_s`` or until ``max_batch`` jobs wait, then fills the batch by taking one job from each
request's queue in turn (round robin over requests, starting after the request served first last
time), so a 1-pair request waits for at most one batch behind a large one. Jobs whose every waiter
gave up (timeout, client gone) before their batch started are dropped.
"""

from __future__ import annotations

import collections
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from agents.judge.judge import Comparison, Judge
from agents.judge.verdict import Verdict


class QueueFull(RuntimeError):
    """The bounded queue cannot take the jobs now; retry later."""


class ServiceStopped(RuntimeError):
    """The worker is not running (shutting down or crashed)."""


@dataclass
class Job:
    key: str
    comparison: Comparison
    future: Future[Verdict] = field(default_factory=Future)
    waiters: int = 1
    owner: str = ""


class LRUCache:
    """A bounded, thread-safe least-recently-used map from cache key to verdict."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._data: collections.OrderedDict[str, Verdict] = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> Verdict | None:
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key: str, value: Verdict) -> None:
        if self.capacity <= 0:
            return
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.capacity:
                self._data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)


class Batcher:
    """Bounded queue + one worker thread running judge batches (see the module docstring)."""

    def __init__(
        self,
        judge: Judge,
        *,
        max_queue: int = 256,
        max_batch: int = 32,
        wait_s: float = 0.02,
        cache_entries: int = 4096,
    ) -> None:
        if max_queue < 1 or max_batch < 1:
            raise ValueError("max_queue and max_batch must be >= 1")
        self.judge = judge
        self.max_queue = max_queue
        self.max_batch = max_batch
        self.wait_s = wait_s
        self.cache = LRUCache(cache_entries)
        self._queues: collections.OrderedDict[str, collections.deque[Job]] = collections.OrderedDict()
        self._waiting = 0  # live jobs in the queues
        self._pending: dict[str, Job] = {}  # queued or running, by key
        self._cond = threading.Condition()
        self._stop = False
        self._thread: threading.Thread | None = None
        self.counters: collections.Counter[str] = collections.Counter()
        self.batch_size_max = 0
        self.judge_seconds = 0.0

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="judge-batcher", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Fail every waiting job at once, then wait (up to ``timeout``) for the running batch."""
        with self._cond:
            self._stop = True
            waiting = [job for queue in self._queues.values() for job in queue]
            self._queues.clear()
            self._waiting = 0
            self._cond.notify_all()
        for job in waiting:
            self._pending.pop(job.key, None)
            if not job.future.done():
                job.future.set_exception(ServiceStopped("the judge service stopped before this comparison ran"))
        if self._thread is not None:
            self._thread.join(timeout)
        for job in list(self._pending.values()):
            if not job.future.done():
                job.future.set_exception(ServiceStopped("the judge service stopped before this comparison ran"))

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._stop

    @property
    def queue_depth(self) -> int:
        return self._waiting

    # ------------------------------------------------------------------ submitting
    def submit(self, jobs: list[tuple[str, Comparison]], owner: str = "") -> list[tuple[Job | None, Future[Verdict]]]:
        """One future per ``(key, comparison)``; ``Job`` is ``None`` for a cache hit. Raises QueueFull.

        ``owner`` names the request: its new jobs go to its own queue (fair interleaving).
        """
        if not self.alive:
            raise ServiceStopped("the judge worker is not running")
        out: list[tuple[Job | None, Future[Verdict]]] = []
        with self._cond:
            fresh = [key for key, _ in jobs if key not in self._pending and self.cache.get(key) is None]
            if fresh and self._waiting >= self.max_queue:
                self.counters["rejected"] += 1
                raise QueueFull(
                    f"the queue is full ({self._waiting} comparisons waiting, limit {self.max_queue}); retry later"
                )
            for key, comparison in jobs:
                hit = self.cache.get(key)
                if hit is not None:
                    self.counters["cache_hits"] += 1
                    done: Future[Verdict] = Future()
                    done.set_result(hit)
                    out.append((None, done))
                    continue
                self.counters["cache_misses"] += 1
                job = self._pending.get(key)
                if job is not None:
                    job.waiters += 1
                    self.counters["joined"] += 1
                else:
                    job = Job(key, comparison, owner=owner)
                    self._pending[key] = job
                    self._queues.setdefault(owner, collections.deque()).append(job)
                    self._waiting += 1
                out.append((job, job.future))
            self._cond.notify_all()
        return out

    def release(self, job: Job | None) -> None:
        """A waiter gave up (timeout): drop the job if nobody waits for it and it has not started."""
        if job is None:
            return
        with self._cond:
            job.waiters -= 1
            if job.waiters <= 0 and job.future.cancel():
                self._pending.pop(job.key, None)
                self._waiting -= 1
                self.counters["dropped"] += 1

    # ------------------------------------------------------------------ worker
    def _take(self) -> list[Job]:
        with self._cond:
            while not self._waiting and not self._stop:
                self._cond.wait(0.5)
            if self._stop:
                return []
            deadline = time.monotonic() + self.wait_s
            while self._waiting < self.max_batch and not self._stop:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            batch: list[Job] = []
            while self._queues and len(batch) < self.max_batch:
                owner, queue = next(iter(self._queues.items()))
                job = queue.popleft()
                if queue:
                    self._queues.move_to_end(owner)  # the next job comes from the next request
                else:
                    del self._queues[owner]
                if job.future.set_running_or_notify_cancel():
                    self._waiting -= 1
                    batch.append(job)
                elif self._pending.get(job.key) is job:
                    self._pending.pop(job.key, None)
            return batch

    def _loop(self) -> None:
        while not self._stop:
            batch = self._take()
            if not batch:
                continue
            start = time.perf_counter()
            try:
                run = self.judge.run([job.comparison for job in batch], both_orders=False)
            except Exception as error:  # a backend failure fails this batch, not the service
                self.counters["batch_errors"] += 1
                self._finish(batch, error=error)
                continue
            self.judge_seconds += time.perf_counter() - start
            self.batch_size_max = max(self.batch_size_max, len(batch))
            self.counters["batches"] += 1
            self.counters["comparisons"] += len(batch)
            self.counters["episodes"] += run.episodes
            self.counters["generate_calls"] += run.generate_calls
            self._finish(batch, verdicts=run.verdicts)

    def _finish(self, batch: list[Job], verdicts: list[Verdict] | None = None, error: Exception | None = None) -> None:
        with self._cond:
            for index, job in enumerate(batch):
                self._pending.pop(job.key, None)
                if verdicts is not None:
                    self.cache.put(job.key, verdicts[index])
                    job.future.set_result(verdicts[index])
                else:
                    job.future.set_exception(RuntimeError(f"the judge failed on this batch: {error}"))

    def snapshot(self) -> dict[str, Any]:
        """Counters for /metrics."""
        batches = self.counters["batches"]
        return {
            **self.counters,
            "queue_depth": self._waiting,
            "pending": len(self._pending),
            "cache_entries": len(self.cache),
            "batch_size_max": self.batch_size_max,
            "batch_size_mean": self.counters["comparisons"] / batches if batches else 0.0,
            "judge_seconds": self.judge_seconds,
        }
