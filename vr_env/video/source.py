"""``FrameSource``: the F candidate frames of a video, decoded on demand, resized, cached per process."""

from __future__ import annotations

import os
from collections.abc import Hashable, Sequence

import numpy as np

from vr_env.video.backends import Backend, VideoReader, get_backend
from vr_env.video.cache import FrameCache, shared_frame_cache
from vr_env.video.errors import VideoError, check_file
from vr_env.video.planar import is_planes, planes_size, planes_to_rgb
from vr_env.video.ref import VideoRef
from vr_env.video.resize import FACTOR, MIN_PIXELS, resize_frame, smart_resize
from vr_env.video.sampling import check_positions, uniform_indices

#: What a cache miss decodes. "candidates": all F candidate frames of the video in one pass (later
#: requests for that video are cache hits); "requested": only the frames asked for, seeking each time.
#: "candidates" was faster per episode on every clip and backend in benchmarks/decode.py (cold
#: episode 673 vs 1260 ms with PyAV, 835 vs 1427 ms with decord2; a second episode on the same pair
#: 119 vs 904 ms; benchmarks/results/decode.md, docs/video.md), at the cost of F raw frames of
#: memory per video.
DEFAULT_STRATEGY = "candidates"
STRATEGIES: tuple[str, ...] = ("candidates", "requested")


class FrameSource:
    """Frames of videos addressed by candidate position.

    ``backend`` is ``"auto"``, ``"decord"``, ``"pyav"`` or a ``Backend`` object. Frames live in
    ``cache`` (default: the process-wide ``shared_frame_cache()``; ``cache_bytes`` makes a private one).
    Returned arrays are read-only views of cached data: copy before writing to them.
    """

    def __init__(
        self,
        backend: str | Backend = "auto",
        cache: FrameCache | None = None,
        strategy: str = "auto",
        cache_bytes: int | None = None,
    ) -> None:
        if cache is not None and cache_bytes is not None:
            raise ValueError("give either cache or cache_bytes, not both")
        if strategy == "auto":
            strategy = DEFAULT_STRATEGY
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown decode strategy {strategy!r}; choose one of {list(STRATEGIES)} or 'auto'")
        self.backend: Backend = get_backend(backend) if isinstance(backend, str) else backend
        if cache is None:
            cache = FrameCache(cache_bytes) if cache_bytes is not None else shared_frame_cache()
        self.cache = cache
        self.strategy = strategy

    # -- public API -------------------------------------------------------------------------------

    def num_frames(self, ref: VideoRef) -> int:
        """Real frame count: from the container (dataset metadata is not trusted), or the clip's."""
        key = self._video_key(ref)
        with self.cache.video_lock(key):
            n, reader = self._count(ref, key)
            if reader is not None:
                reader.close()
        return n

    def candidate_indices(self, ref: VideoRef, frames_per_video: int) -> np.ndarray:
        """Raw frame index of each of the ``frames_per_video`` candidates (see ``sampling``)."""
        return uniform_indices(self.num_frames(ref), frames_per_video)

    def frames(
        self,
        ref: VideoRef,
        positions: Sequence[int],
        frames_per_video: int,
        max_pixels: int,
        min_pixels: int = MIN_PIXELS,
    ) -> list[np.ndarray]:
        """uint8 ``(H, W, 3)`` images of the 0-based candidate ``positions``, Qwen-VL resized."""
        if frames_per_video < 1:
            raise ValueError(f"frames_per_video must be >= 1, got {frames_per_video}")
        smart_resize(FACTOR, FACTOR, FACTOR, min_pixels, max_pixels)  # validates the budget early
        pos = check_positions(positions, frames_per_video, ref.path)
        if not len(pos):
            return []
        key = self._video_key(ref)
        with self.cache.video_lock(key):
            n, reader = self._count(ref, key)
            try:
                candidates = uniform_indices(n, frames_per_video)
                wanted = [int(i) for i in candidates[pos]]
                resized: dict[int, np.ndarray] = {}
                for idx in dict.fromkeys(wanted):
                    hit = self.cache.get((key, "resized", idx, min_pixels, max_pixels))
                    if hit is not None:
                        resized[idx] = hit
                todo = [idx for idx in dict.fromkeys(wanted) if idx not in resized]
                if todo:
                    raw, reader = self._raw_frames(ref, key, todo, candidates, reader)
                    for idx in todo:
                        size = self._target_size(ref, planes_size(raw[idx]), min_pixels, max_pixels)
                        # planes are converted and resized in one call, only when shown
                        resize = planes_to_rgb if is_planes(raw[idx]) else resize_frame
                        image = resize(raw[idx], size)
                        if image is raw[idx]:
                            image = image.copy()  # same size: keep the entries independent
                        resized[idx] = self.cache.put((key, "resized", idx, min_pixels, max_pixels), image)
            finally:
                if reader is not None:
                    reader.close()
        return [resized[idx] for idx in wanted]

    def pin(self, ref: VideoRef) -> Hashable | None:
        """Keep ``ref``'s frames in the cache until :meth:`unpin` with the returned key (see ``FrameCache.pin``)."""
        try:
            key = self._video_key(ref)
        except VideoError:
            return None  # a missing file: reading it will raise, there is nothing to keep
        self.cache.pin(key)
        return key

    def unpin(self, key: Hashable | None) -> None:
        if key is not None:
            self.cache.unpin(key)

    # -- internals --------------------------------------------------------------------------------

    def _video_key(self, ref: VideoRef) -> Hashable:
        clip = ref.clip
        if clip is not None:
            kind = f"{type(clip).__module__}.{type(clip).__qualname__}"
            return ("synthetic", ref.path, kind, clip.num_frames, clip.height, clip.width)
        st = check_file(ref.path)
        return ("file", self.backend.name, os.path.realpath(ref.path), st.st_size, st.st_mtime_ns)

    def _count(self, ref: VideoRef, key: Hashable) -> tuple[int, VideoReader | None]:
        """Frame count, and the reader opened to learn it (``None`` when cached or synthetic)."""
        if ref.clip is not None:
            n = int(ref.clip.num_frames)
            if n < 1:
                raise VideoError(ref.path, f"synthetic clip has num_frames={n}")
            return n, None
        cached = self.cache.get_info(key)
        if isinstance(cached, int):
            return cached, None
        reader = self.backend.open(ref.path)
        self.cache.put_info(key, reader.num_frames)
        return reader.num_frames, reader

    def _raw_frames(
        self, ref: VideoRef, key: Hashable, needed: list[int], candidates: np.ndarray, reader: VideoReader | None
    ) -> tuple[dict[int, np.ndarray], VideoReader | None]:
        """Raw frames for ``needed`` indices: from the cache, else decoded by the strategy."""
        raw: dict[int, np.ndarray] = {}
        for idx in needed:
            hit = self.cache.get((key, "raw", idx))
            if hit is not None:
                raw[idx] = hit
        missing = [idx for idx in needed if idx not in raw]
        if not missing:
            return raw, reader
        decode = set(missing)
        if self.strategy == "candidates":
            decode |= {int(i) for i in candidates if (key, "raw", int(i)) not in self.cache}
        order = sorted(decode)
        if ref.clip is not None:
            frames = self._render(ref, order)
        else:
            if reader is None:
                reader = self.backend.open(ref.path)
            planar = getattr(self.backend, "planar", False) and hasattr(reader, "read_planes")
            frames = reader.read_planes(order) if planar else reader.read(order)  # type: ignore[attr-defined]
        wanted = set(missing)
        for idx, frame in zip(order, frames, strict=True):
            stored = self.cache.put((key, "raw", idx), frame)
            if idx in wanted:
                raw[idx] = stored
        return raw, reader

    def _render(self, ref: VideoRef, order: list[int]) -> list[np.ndarray]:
        clip = ref.clip
        assert clip is not None
        frames = np.asarray(clip.render(np.asarray(order, dtype=np.int64)))
        expected = (len(order), clip.height, clip.width, 3)
        if frames.shape != expected or frames.dtype != np.uint8:
            raise VideoError(
                ref.path, f"synthetic clip rendered {frames.shape} {frames.dtype}, expected {expected} uint8"
            )
        return [np.array(frame) for frame in frames]  # one owned array per frame, for the cache

    @staticmethod
    def _target_size(ref: VideoRef, shape: tuple[int, int], min_pixels: int, max_pixels: int) -> tuple[int, int]:
        try:
            return smart_resize(shape[0], shape[1], FACTOR, min_pixels, max_pixels)
        except ValueError as exc:
            raise VideoError(ref.path, f"cannot be resized: {exc}") from None
