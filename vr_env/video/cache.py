"""A byte-bounded LRU of decoded frames, and the one shared by every ``FrameSource`` of a process."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Hashable

import numpy as np

#: Default size of the process-wide cache; override with the environment variable below
#: (read once, when ``shared_frame_cache()`` first builds it) or ``shared_frame_cache().max_bytes = ...``.
DEFAULT_CACHE_BYTES = 2 * 1024**3
CACHE_BYTES_ENV = "VR_ENV_FRAME_CACHE_BYTES"
_N_VIDEO_LOCKS = 64


class FrameCache:
    """Least-recently-used map ``key -> read-only uint8 array``, bounded by the arrays' total bytes.

    Also keeps a small map of per-video facts (frame counts) and a set of per-video locks, so that
    threads asking for the same video decode it once. All methods are thread-safe.
    """

    def __init__(self, max_bytes: int = DEFAULT_CACHE_BYTES, max_infos: int = 65536) -> None:
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0, got {max_bytes}")
        self._max_bytes = int(max_bytes)
        self._max_infos = max_infos
        self._frames: OrderedDict[Hashable, np.ndarray] = OrderedDict()
        self._infos: OrderedDict[Hashable, object] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._video_locks = tuple(threading.Lock() for _ in range(_N_VIDEO_LOCKS))
        self._pins: dict[Hashable, int] = {}
        self.hits = 0
        self.misses = 0

    @property
    def max_bytes(self) -> int:
        return self._max_bytes

    @max_bytes.setter
    def max_bytes(self, value: int) -> None:
        if value < 0:
            raise ValueError(f"max_bytes must be >= 0, got {value}")
        with self._lock:
            self._max_bytes = int(value)
            self._evict()

    @property
    def nbytes(self) -> int:
        """Bytes held now (always ``<= max_bytes``)."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._frames)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._frames

    def keys(self) -> list[Hashable]:
        """Keys from least to most recently used."""
        with self._lock:
            return list(self._frames)

    def get(self, key: Hashable) -> np.ndarray | None:
        """The array stored under ``key`` (now most recently used), or ``None``."""
        with self._lock:
            value = self._frames.get(key)
            if value is None:
                self.misses += 1
                return None
            self._frames.move_to_end(key)
            self.hits += 1
            return value

    def put(self, key: Hashable, value: np.ndarray) -> np.ndarray:
        """Store ``value`` (made read-only) and evict least recently used entries to fit; return it.

        An array larger than ``max_bytes`` is returned but not stored (unless its video is pinned).
        """
        value.flags.writeable = False
        with self._lock:
            old = self._frames.pop(key, None)
            if old is not None:
                self._bytes -= old.nbytes
            pinned = isinstance(key, tuple) and bool(key) and key[0] in self._pins
            if value.nbytes <= self._max_bytes or pinned:
                self._frames[key] = value
                self._bytes += value.nbytes
                self._evict()
        return value

    def _evict(self) -> None:
        if not self._pins:
            while self._bytes > self._max_bytes and self._frames:
                _, old = self._frames.popitem(last=False)
                self._bytes -= old.nbytes
            return
        # Least recently used first, skipping the frames of pinned videos (keys ``(video, ...)``).
        for key in list(self._frames):
            if self._bytes <= self._max_bytes:
                break
            if isinstance(key, tuple) and key and key[0] in self._pins:
                continue
            self._bytes -= self._frames.pop(key).nbytes

    def pin(self, video_key: Hashable) -> None:
        """Keep the frames of ``video_key`` (entries keyed ``(video_key, ...)``) until :meth:`unpin`.

        Pins are counted. While pinned, a video's frames are never evicted, so the cache may exceed
        ``max_bytes`` by the frames of the pinned videos (``pinned_bytes``). The environment pins
        the two videos of its current episode, so an episode decodes each video once whatever the
        cache size; the excess is bounded by two videos per environment.
        """
        with self._lock:
            self._pins[video_key] = self._pins.get(video_key, 0) + 1

    def unpin(self, video_key: Hashable) -> None:
        with self._lock:
            count = self._pins.get(video_key, 0) - 1
            if count > 0:
                self._pins[video_key] = count
            else:
                self._pins.pop(video_key, None)
            self._evict()

    @property
    def pinned_videos(self) -> int:
        """Videos pinned now (each counted once, whatever its pin count)."""
        with self._lock:
            return len(self._pins)

    @property
    def pinned_bytes(self) -> int:
        """Bytes held for pinned videos now."""
        with self._lock:
            return sum(v.nbytes for k, v in self._frames.items() if isinstance(k, tuple) and k and k[0] in self._pins)

    def get_info(self, key: Hashable) -> object | None:
        with self._lock:
            return self._infos.get(key)

    def put_info(self, key: Hashable, info: object) -> None:
        with self._lock:
            self._infos[key] = info
            self._infos.move_to_end(key)
            while len(self._infos) > self._max_infos:
                self._infos.popitem(last=False)

    def video_lock(self, video_key: Hashable) -> threading.Lock:
        """A lock held while one video is decoded (striped: unrelated videos may rarely share one)."""
        return self._video_locks[hash(video_key) % _N_VIDEO_LOCKS]

    def clear(self) -> None:
        with self._lock:
            self._frames.clear()
            self._infos.clear()
            self._bytes = 0
            self.hits = self.misses = 0


_shared: FrameCache | None = None
_shared_lock = threading.Lock()


def shared_frame_cache() -> FrameCache:
    """The process-wide cache (created on first use, ``$VR_ENV_FRAME_CACHE_BYTES`` or 2 GiB)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            raw = os.environ.get(CACHE_BYTES_ENV, "").strip()
            try:
                size = int(raw) if raw else DEFAULT_CACHE_BYTES
            except ValueError:
                raise ValueError(f"{CACHE_BYTES_ENV}={raw!r} is not an integer number of bytes") from None
            _shared = FrameCache(size)
        return _shared
