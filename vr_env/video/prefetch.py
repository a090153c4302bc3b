"""Decode ahead: a bounded pool of threads that warms the frame cache for what will be played next.

The episode driver (:func:`vr_env.driver.drive`) hands a :class:`Prefetcher` the keys of the
episodes it will start next, in order; a worker thread runs ``warm(key)`` for each, at most
``pairs_ahead`` keys beyond the driver's position, and the driver says when it has started a key
(:meth:`Prefetcher.passed`). ``warm`` decodes into the process's :class:`~vr_env.video.cache.FrameCache`
(the one the environments read, so nothing is decoded twice: a thread that wants a video another
thread is decoding waits on that video's lock) and pins what it decoded; the pins are released once
the driver has passed the key (the environment pins its own pair at ``reset``), so memory is bounded
by ``pairs_ahead`` pairs whatever the cache size.

Threads, not processes: the cache must be shared, and the work runs outside the GIL (FFmpeg's
decoder, libswscale and torch's resize release it; docs/video.md says what runs where).

``warm`` never fails the run: whatever it raises is counted in :attr:`Prefetcher.errors` and
dropped, and the driver meets the same failure again in its own thread when it starts the episode
(a data error is skipped and counted there, exactly as without prefetch).

>>> import time
>>> with Prefetcher(lambda key: time.sleep(0.01), workers=1, pairs_ahead=2) as prefetcher:
...     prefetcher.schedule(["a", "b", "c"])  # the next keys to play, in order
...     prefetcher.in_flight  # at most pairs_ahead
...     prefetcher.passed("a")  # "a" was started: its pins go once its warm is done
...     prefetcher.in_flight
2
1
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vr_env.video.backends import DecodeCancelled, single_threaded_decoding, stoppable_decoding
from vr_env.video.errors import VideoError

if TYPE_CHECKING:
    from vr_env.driver import Job

#: Decode threads by default: the machine's cores, at most 4 (a judge's own work needs a core too).
DEFAULT_WORKERS = max(1, min(4, os.cpu_count() or 1))

#: ``warm(key)`` returns a callable that releases what it pinned (or ``None``).
Release = Callable[[], None]


@dataclass(frozen=True)
class PrefetchConfig:
    """How the episode driver decodes ahead (``drive(..., prefetch=...)``, ``vr-env eval --prefetch-workers``)."""

    workers: int = field(
        default=DEFAULT_WORKERS,
        metadata={"help": "decode threads that prepare upcoming pairs (0: off, decode in the driver's thread)"},
    )
    pairs_ahead: int | None = field(
        default=None,
        metadata={
            "help": "pairs decoded ahead of the ones being played (default 2 x workers); bounds memory: "
            "their frames stay pinned in the frame cache until played"
        },
    )
    niceness: int = field(
        default=10,
        metadata={
            "help": "how much lower the workers' CPU priority is than the driver's thread (Linux thread nice "
            "value, 0..19): on busy cores the policy's turns and the steps go first, decoding ahead takes the rest"
        },
    )
    single_threaded: bool = field(
        default=False,
        metadata={
            "help": "each worker decodes with one thread instead of FFmpeg's frame threads (the workers are "
            "then the only parallelism; the default keeps FFmpeg's threads, faster in benchmarks/prefetch.py)"
        },
    )
    convert_ahead: bool = field(
        default=False,
        metadata={
            "help": "workers also convert every candidate frame to RGB at the tool's pixel budget, so a tool "
            "call's frames are cache lookups: for a policy slower than decoding (a GPU model, an API); costs "
            "CPU and memory for the candidates never fetched (benchmarks/prefetch.py, docs/video.md)"
        },
    )

    def __post_init__(self) -> None:
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 0:
            raise ValueError(f"prefetch workers must be an int >= 0, got {self.workers!r}")
        if isinstance(self.niceness, bool) or not isinstance(self.niceness, int) or not 0 <= self.niceness <= 19:
            raise ValueError(f"prefetch niceness must be an int in 0..19, got {self.niceness!r}")
        ahead = self.pairs_ahead
        if ahead is not None and (isinstance(ahead, bool) or not isinstance(ahead, int) or ahead < 1):
            raise ValueError(f"prefetch pairs_ahead must be an int >= 1 or None, got {ahead!r}")

    @property
    def enabled(self) -> bool:
        return self.workers > 0

    @property
    def ahead(self) -> int:
        return self.pairs_ahead if self.pairs_ahead is not None else 2 * self.workers

    @classmethod
    def of(cls, value: PrefetchConfig | int | bool | None) -> PrefetchConfig:
        """``None``: the default (on); ``True``/``False``: on/off; an int: that many workers."""
        if value is None or value is True:
            return cls()
        if value is False:
            return cls(workers=0)
        if isinstance(value, PrefetchConfig):
            return value
        return cls(workers=value)


class Prefetcher:
    """Runs ``warm(key)`` in ``workers`` threads for up to ``pairs_ahead`` upcoming keys.

    ``warm`` may return a release callable, called once the key has been passed (or at close). Use as
    a context manager, or call :meth:`close`: queued work is cancelled, running work is asked to stop
    (:attr:`stopping`) and waited for, and every pin is released.
    """

    def __init__(
        self, warm: Callable[[Hashable], Release | None], workers: int, pairs_ahead: int, niceness: int = 0
    ) -> None:
        if workers < 1 or pairs_ahead < 1:
            raise ValueError(f"a prefetcher needs workers >= 1 and pairs_ahead >= 1, got {workers}, {pairs_ahead}")
        self._warm = warm
        self.pairs_ahead = pairs_ahead
        self.stopping = threading.Event()
        self._pool = ThreadPoolExecutor(
            max_workers=workers,
            thread_name_prefix="vr-env-prefetch",
            initializer=lower_thread_priority,
            initargs=(niceness,),
        )
        self._futures: dict[Hashable, Future[Release | None]] = {}
        self._passed: set[Hashable] = set()
        self._lock = threading.Lock()
        #: ``(key, exception)`` of every ``warm`` that raised (the driver meets it again itself).
        self.errors: list[tuple[Hashable, BaseException]] = []
        self.warmed = 0

    def __enter__(self) -> Prefetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def in_flight(self) -> int:
        """Keys submitted and not yet passed (at most ``pairs_ahead``)."""
        return len(self._futures)

    def schedule(self, upcoming: Sequence[Hashable]) -> None:
        """Submit the first keys of ``upcoming`` (the next ones to play, in order) up to the bound."""
        for key in upcoming:
            if len(self._futures) >= self.pairs_ahead:
                break
            if key in self._futures or key in self._passed or self.stopping.is_set():
                continue
            self._futures[key] = self._pool.submit(self._run, key)

    def passed(self, key: Hashable) -> None:
        """The driver has started ``key`` (or will never play it): cancel it if queued, release its pins."""
        self._passed.add(key)
        future = self._futures.pop(key, None)
        if future is None or future.cancel():
            return
        future.add_done_callback(_release)

    def close(self) -> None:
        """Cancel queued work, stop running work (a PyAV decode within a frame), wait for it, release
        every pin. Idempotent."""
        self.stopping.set()
        futures, self._futures = list(self._futures.values()), {}
        for future in futures:
            if not future.cancel():
                future.add_done_callback(_release)
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _run(self, key: Hashable) -> Release | None:
        if self.stopping.is_set():
            return None
        try:
            release = self._warm(key)
        except DecodeCancelled:  # closing: not an error
            return None
        except Exception as exc:  # never fails the run: the driver meets the same failure itself
            with self._lock:
                self.errors.append((key, exc))
            return None
        with self._lock:
            self.warmed += 1
        return release


def lower_thread_priority(niceness: int) -> None:
    """Raise the calling thread's nice value by ``niceness`` (Linux; threads it starts, such as FFmpeg's,
    inherit it). Elsewhere, or when not allowed, nothing changes."""
    if niceness <= 0 or not sys.platform.startswith("linux"):
        return
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + niceness))
    except OSError:
        pass


def _release(future: Future[Any]) -> None:
    if future.cancelled() or future.exception() is not None:
        return
    release = future.result()
    if release is not None:
        release()


def _base(env: Any) -> Any:
    return getattr(env, "unwrapped", env)


#: Candidate frames converted per call when converting ahead: the video's lock is released between
#: chunks, so the driver's thread (a tool call on that pair) never waits for more than one chunk.
CONVERT_CHUNK = 4


def warm_pair(env: Any, job: Job, stop: threading.Event | None = None, convert: bool = False) -> Release:
    """Decode what ``env.reset`` for ``job`` decodes first into the env's frame cache, and pin it.

    That is the initial frames of both videos at the initial budget (and so, with the default
    ``"candidates"`` strategy, every candidate frame, kept as decoded). ``convert``: then also every
    candidate frame at the tool's budget (``retrieved_max_pixels``), what a tool call would convert,
    in chunks of :data:`CONVERT_CHUNK` (nothing when the environment allows no tool call). Returns the
    callable that unpins. Raises what the env would raise (a data error); then nothing stays pinned.
    """
    base = _base(env)
    source, config = base.frame_source, base.config
    record = base.dataset[job.pair_index]
    if job.swapped:
        record = record.swapped()
    refs = {1: record.video_1, 2: record.video_2}
    pin = getattr(source, "pin", None)
    pins = [pin(ref) for ref in refs.values()] if pin is not None else []

    def release() -> None:
        for key in pins:
            source.unpin(key)

    try:
        positions: dict[int, list[int]] = {1: [], 2: []}
        for fid in config.protocol.initial_frame_ids():
            video, position = config.protocol.locate(fid)
            positions[video].append(position)
        for video, ref in refs.items():
            if stop is not None and stop.is_set():
                break
            if positions[video]:
                source.frames(
                    ref,
                    positions[video],
                    frames_per_video=config.frames_per_video,
                    max_pixels=config.initial_max_pixels,
                    min_pixels=config.min_pixels,
                )
        if convert and config.max_tool_calls > 0:
            _convert_candidates(source, config, list(refs.values()), stop)
    except BaseException:
        release()
        raise
    return release


def _convert_candidates(source: Any, config: Any, refs: list[Any], stop: threading.Event | None) -> None:
    """Every candidate of ``refs`` at the tool's budget, :data:`CONVERT_CHUNK` frames a call. Optional
    work: a frame that cannot be converted is left to the tool call that asks for it (where it is the
    data error it would be without prefetch), so it is not counted as a failed warm."""
    for ref in refs:
        for start in range(0, config.frames_per_video, CONVERT_CHUNK):
            if stop is not None and stop.is_set():
                return
            try:
                source.frames(
                    ref,
                    range(start, min(start + CONVERT_CHUNK, config.frames_per_video)),
                    frames_per_video=config.frames_per_video,
                    max_pixels=config.retrieved_max_pixels,
                    min_pixels=config.min_pixels,
                )
            except VideoError:
                return


class Lookahead:
    """The pairs :func:`drive` decodes ahead: the next distinct ``Job.key``s after the last one started."""

    def __init__(self, env: Any, jobs: Sequence[Job], config: PrefetchConfig) -> None:
        self.first: dict[Hashable, Job] = {}
        for job in jobs:
            self.first.setdefault(job.key, job)
        self.order = list(self.first)
        self.position = {key: i for i, key in enumerate(self.order)}
        self.cursor = 0
        self.prefetcher = Prefetcher(self._warm, config.workers, config.ahead, config.niceness)
        self.single_threaded = config.single_threaded
        self.convert_ahead = config.convert_ahead
        self.env = env
        self._schedule()

    @classmethod
    def start(cls, envs: Sequence[Any], jobs: Sequence[Job] | None, config: PrefetchConfig) -> Lookahead | None:
        """A lookahead over ``jobs``, or ``None`` when prefetch is off or cannot help these envs."""
        if not config.enabled or not jobs:
            return None
        bases = [_base(env) for env in envs]
        if not all(hasattr(b, "dataset") and hasattr(b, "config") and hasattr(b, "frame_source") for b in bases):
            return None  # not a VRJudgeEnv-like environment: nothing known to decode
        caches = {id(getattr(b.frame_source, "cache", b.frame_source)) for b in bases}
        if len(caches) != 1 or not hasattr(bases[0].frame_source, "frames"):
            return None  # environments with private caches: frames decoded for one would not serve the others
        return cls(envs[0], jobs, config)

    def _warm(self, key: Hashable) -> Release:
        stopping = self.prefetcher.stopping
        with (
            stoppable_decoding(stopping),
            single_threaded_decoding() if self.single_threaded else contextlib.nullcontext(),
        ):
            return warm_pair(self.env, self.first[key], stopping, convert=self.convert_ahead)

    def _schedule(self) -> None:
        self.prefetcher.schedule(self.order[self.cursor : self.cursor + self.prefetcher.pairs_ahead])

    def started(self, job: Job) -> None:
        """``job`` was started: every planned pair up to it is passed, the window moves on."""
        index = self.position.get(job.key)
        if index is None or index < self.cursor:
            return
        for key in self.order[self.cursor : index + 1]:
            self.prefetcher.passed(key)
        self.cursor = index + 1
        self._schedule()

    def close(self) -> None:
        self.prefetcher.close()
