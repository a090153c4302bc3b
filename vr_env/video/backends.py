"""Decoding backends: ``pyav``, ``decord`` (decord 0.6.0 or decord2, same import name) and ``torchcodec``.

A backend opens a file into a ``VideoReader`` that knows the real frame count (from the container,
not from dataset metadata) and returns RGB frames for sorted, unique raw frame indices. Every
failure is raised as ``VideoError`` naming the file; backend exceptions never escape.
"""

from __future__ import annotations

import bisect
import contextlib
import importlib
import importlib.util
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from types import ModuleType
from typing import Any, Protocol, runtime_checkable

import numpy as np

from vr_env.video.errors import VideoError, check_file, decode_failure, open_failure
from vr_env.video.planar import frame_to_planes

#: Order tried by ``backend="auto"``: the first importable one is used. PyAV first because it gave
#: the fastest episodes in benchmarks/decode.py (benchmarks/results/decode.md: with the default
#: "candidates" strategy, geometric mean of a cold episode 673 ms for PyAV vs 835 ms for decord2 and
#: 838 ms for decord 0.6.0, 2 busy cores; see docs/video.md for the noise between runs); decord is the fallback.
AUTO_BACKEND_ORDER: tuple[str, ...] = ("pyav", "decord")


_local = threading.local()


@contextlib.contextmanager
def single_threaded_decoding() -> Iterator[None]:
    """Within this block, videos opened or read by this thread decode with one thread (PyAV's
    ``thread_type="NONE"``, decord's and torchcodec's ``1``). Prefetch workers use it with
    ``PrefetchConfig(single_threaded=True)``: their parallelism is then one pair per worker."""
    previous = getattr(_local, "single", False)
    _local.single = True
    try:
        yield
    finally:
        _local.single = previous


def _single_threaded() -> bool:
    return bool(getattr(_local, "single", False))


class DecodeCancelled(Exception):
    """A decode given up because its :func:`stoppable_decoding` event was set (never a data error)."""


@contextlib.contextmanager
def stoppable_decoding(stop: threading.Event) -> Iterator[None]:
    """Within this block, a PyAV decode in this thread checks ``stop`` between frames and raises
    :class:`DecodeCancelled` once it is set, so a prefetch worker stops within a frame on Ctrl-C."""
    previous = getattr(_local, "stop", None)
    _local.stop = stop
    try:
        yield
    finally:
        _local.stop = previous


def _check_stop(path: str) -> None:
    stop = getattr(_local, "stop", None)
    if stop is not None and stop.is_set():
        raise DecodeCancelled(path)


@runtime_checkable
class VideoReader(Protocol):
    """An open video. ``read`` takes sorted unique indices in ``[0, num_frames)``.

    It returns one uint8 ``(H, W, 3)`` array per index, each owning its memory (so that a cache can
    account for and free frames one by one).
    """

    path: str
    num_frames: int
    fps: float | None

    def read(self, indices: Sequence[int]) -> list[np.ndarray]: ...

    def close(self) -> None: ...


@runtime_checkable
class Backend(Protocol):
    """Something that opens files into ``VideoReader``s."""

    name: str

    def open(self, path: str) -> VideoReader: ...


def _check_frame(path: str, frame: np.ndarray) -> np.ndarray:
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3 or min(frame.shape) < 1:
        raise VideoError(path, f"decoder returned a frame of shape {frame.shape} and dtype {frame.dtype}")
    return np.ascontiguousarray(frame)  # PyAV may return a strided view over padded lines


def _check_planes(path: str, frame: np.ndarray) -> np.ndarray:
    if frame.ndim == 3:
        return _check_frame(path, frame)
    if frame.dtype != np.uint8 or frame.ndim != 2 or frame.shape[0] % 3 or min(frame.shape) < 2:
        raise VideoError(path, f"decoder returned planes of shape {frame.shape} and dtype {frame.dtype}")
    return np.ascontiguousarray(frame)


def _to_rgb(frame: Any) -> np.ndarray:
    return frame.to_ndarray(format="rgb24")


def _no_frames(path: str) -> VideoError:
    return VideoError(path, "the video stream has no frames (empty or truncated file)")


def import_decord() -> ModuleType:
    """Import ``decord``, importing torch first when it is installed.

    decord2 3.4 ``dlopen``s every library of the ``nvidia`` pip packages with ``RTLD_GLOBAL`` at
    import, ``libnvblas`` included. A torch imported afterwards then binds its CPU BLAS calls to
    NVBLAS and crashes (segfault) on a machine without a GPU. Loading torch first keeps its own
    BLAS bound (tests/video/test_decord_torch.py).
    """
    if "decord" not in sys.modules and "torch" not in sys.modules and importlib.util.find_spec("torch") is not None:
        import torch  # noqa: F401

    return importlib.import_module("decord")


class _DecordReader:
    def __init__(self, path: str, num_threads: int) -> None:
        decord = import_decord()

        self.path = path
        try:
            threads = 1 if _single_threaded() else num_threads
            self._vr = decord.VideoReader(path, ctx=decord.cpu(0), num_threads=threads)
            self.num_frames = len(self._vr)
            fps = float(self._vr.get_avg_fps())
        except Exception as exc:
            if "video stream" in str(exc).lower():
                raise VideoError(path, "unsupported: no decodable video stream in the file", exc) from None
            raise open_failure(path, exc) from None
        self.fps = fps if fps > 0 else None
        if self.num_frames < 1:
            raise _no_frames(path)

    def read(self, indices: Sequence[int]) -> list[np.ndarray]:
        idx = [int(i) for i in indices]
        if not idx:
            return []
        try:
            batch = self._vr.get_batch(idx)
            frames = batch.asnumpy() if hasattr(batch, "asnumpy") else np.asarray(batch)
        except Exception as exc:
            raise decode_failure(self.path, exc) from None
        if frames.ndim != 4 or frames.shape[0] != len(idx):
            raise VideoError(self.path, f"decoder returned a batch of shape {frames.shape} for {len(idx)} frames")
        return [_check_frame(self.path, np.array(frame)) for frame in frames]

    def close(self) -> None:
        self._vr = None


class DecordBackend:
    """decord's ``VideoReader.get_batch`` (it seeks to the keyframe before each index when needed)."""

    name = "decord"

    def __init__(self, num_threads: int = 0) -> None:
        self.num_threads = num_threads

    def open(self, path: str) -> VideoReader:
        check_file(path)
        return _DecordReader(path, self.num_threads)


class _SeekMismatchError(Exception):
    """Decoded frame timestamps do not match the packet index: decode from the start instead."""


class _PyAVReader:
    def __init__(self, path: str, thread_type: str) -> None:
        import av

        self.path = path
        self._thread_type = thread_type
        self._convert: Callable[[Any], np.ndarray] = _to_rgb
        try:
            with av.open(path) as container:
                if not container.streams.video:
                    raise VideoError(path, "unsupported: the file has no video stream")
                stream = container.streams.video[0]
                listed = int(stream.frames or 0)
                rate = stream.average_rate or stream.guessed_rate
                pts: list[int | None] = []
                keys: list[bool] = []
                for packet in container.demux(stream):
                    if packet.size:
                        pts.append(packet.pts)
                        keys.append(bool(packet.is_keyframe))
        except VideoError:
            raise
        except Exception as exc:
            raise open_failure(path, exc) from None
        self.fps = float(rate) if rate else None
        self.num_frames = len(pts)
        if self.num_frames < 1:
            raise _no_frames(path)
        if listed > self.num_frames:
            raise VideoError(
                path, f"truncated: the container lists {listed} frames but only {self.num_frames} are present"
            )
        # Presentation-order index: position of each packet timestamp among the sorted timestamps.
        self._pts: list[int] | None = None
        self._keyframes: list[int] = []
        if all(p is not None for p in pts) and len(set(pts)) == len(pts):
            order = sorted(range(len(pts)), key=lambda k: pts[k])  # type: ignore[arg-type, return-value]
            self._pts = [pts[k] for k in order]  # type: ignore[misc]
            self._keyframes = [rank for rank, k in enumerate(order) if keys[k]]
        self._pts_index = {p: i for i, p in enumerate(self._pts or [])}

    def read(self, indices: Sequence[int]) -> list[np.ndarray]:
        return [_check_frame(self.path, f) for f in self._read(indices, _to_rgb)]

    def read_planes(self, indices: Sequence[int]) -> list[np.ndarray]:
        """Frames as decoded: YUV 4:2:0 planes ``(H * 3/2, W)`` (RGB for odd sizes), see ``vr_env.video.planar``."""
        return [_check_planes(self.path, f) for f in self._read(indices, frame_to_planes)]

    def _read(self, indices: Sequence[int], convert: Callable[[Any], np.ndarray]) -> list[np.ndarray]:
        import av

        self._convert = convert
        wanted = sorted({int(i) for i in indices})
        if not wanted:
            return []
        try:
            with av.open(self.path) as container:
                stream = container.streams.video[0]
                stream.thread_type = "NONE" if _single_threaded() else self._thread_type
                out = None
                if self._seek_helps(wanted):
                    try:
                        out = self._read_seeking(container, stream, wanted)
                    except _SeekMismatchError:
                        container.seek(0)
                if out is None:
                    out = self._read_sequential(container, stream, wanted)
        except (VideoError, DecodeCancelled):
            raise
        except Exception as exc:
            raise decode_failure(self.path, exc) from None
        missing = [i for i in wanted if i not in out]
        if missing:
            raise VideoError(
                self.path, f"truncated or corrupt: frame {missing[0]} of {self.num_frames} could not be decoded"
            )
        return [out[int(i)] for i in indices]

    def _seek_helps(self, wanted: list[int]) -> bool:
        """True if some wanted frame lies past a keyframe that a sequential decode would reach later."""
        if self._pts is None or len(self._keyframes) < 2:
            return False
        pos = -1
        for target in wanted:
            if self._keyframe_before(target) > pos + 1:
                return True
            pos = target
        return False

    def _keyframe_before(self, index: int) -> int:
        k = bisect.bisect_right(self._keyframes, index) - 1
        return self._keyframes[k] if k >= 0 else 0

    def _read_sequential(self, container, stream, wanted: list[int]) -> dict[int, np.ndarray]:
        want = set(wanted)
        last = wanted[-1]
        out: dict[int, np.ndarray] = {}
        for i, frame in enumerate(container.decode(stream)):
            _check_stop(self.path)
            if i in want:
                out[i] = self._convert(frame)
            if i >= last:
                break
        return out

    def _read_seeking(self, container, stream, wanted: list[int]) -> dict[int, np.ndarray]:
        assert self._pts is not None
        want = set(wanted)
        out: dict[int, np.ndarray] = {}
        frames = None
        pos = -1  # index of the last decoded frame in the current run
        for target in wanted:
            if target in out:
                continue
            key = self._keyframe_before(target)
            if frames is None or key > pos + 1:
                if key > 0:
                    container.seek(self._pts[key], stream=stream, backward=True, any_frame=False)
                frames = container.decode(stream)
                pos = -1
            for frame in frames:
                _check_stop(self.path)
                idx = self._pts_index.get(frame.pts)
                if idx is None:
                    raise _SeekMismatchError
                pos = idx
                if idx in want and idx not in out:
                    out[idx] = self._convert(frame)
                if idx >= target:
                    break
            if target not in out:
                raise _SeekMismatchError
        return out

    def close(self) -> None:
        pass


class PyAVBackend:
    """PyAV (FFmpeg): decodes forward from the start, or seeks to keyframes when that skips frames.

    ``planar``: its readers also give frames as decoded (``read_planes``), which ``FrameSource``
    caches and converts to RGB only when shown, at the size shown (``vr_env.video.planar``).
    """

    name = "pyav"
    planar = True

    def __init__(self, thread_type: str = "AUTO") -> None:
        self.thread_type = thread_type

    def open(self, path: str) -> VideoReader:
        check_file(path)
        return _PyAVReader(path, self.thread_type)


class _TorchCodecReader:
    def __init__(self, path: str, num_threads: int) -> None:
        from torchcodec.decoders import VideoDecoder

        self.path = path
        threads = 1 if _single_threaded() else num_threads
        self._decoder: Any = None
        try:
            self._decoder = VideoDecoder(path, dimension_order="NHWC", num_ffmpeg_threads=threads, seek_mode="exact")
            meta = self._decoder.metadata
            self.num_frames = int(meta.num_frames or 0)
            fps = float(meta.average_fps or 0)
        except Exception as exc:
            error = open_failure(path, exc)
            if "stream" in str(exc).lower() and not error.reason.startswith("is not a video"):
                error = VideoError(path, "unsupported: no decodable video stream in the file", exc)
            raise error from None
        self.fps = fps if fps > 0 else None
        if self.num_frames < 1:
            raise _no_frames(path)

    def read(self, indices: Sequence[int]) -> list[np.ndarray]:
        idx = [int(i) for i in indices]
        if not idx:
            return []
        try:
            frames = self._decoder.get_frames_at(indices=idx).data.numpy()
        except Exception as exc:
            raise decode_failure(self.path, exc) from None
        return [_check_frame(self.path, np.array(frame)) for frame in frames]

    def close(self) -> None:
        self._decoder = None


class TorchCodecBackend:
    """torchcodec, PyTorch's video decoder (FFmpeg; RGB frames, exact frame index from a file scan).

    It needs FFmpeg's shared libraries (4 to 8) where the dynamic loader finds them;
    ``python -m vr_env.video.ffmpeg_libs`` prints an ``LD_LIBRARY_PATH`` that offers PyAV's own.
    """

    name = "torchcodec"

    def __init__(self, num_threads: int = 0) -> None:
        self.num_threads = num_threads

    def open(self, path: str) -> VideoReader:
        check_file(path)
        return _TorchCodecReader(path, self.num_threads)


_FACTORIES: dict[str, Callable[[], Backend]] = {
    "decord": DecordBackend,
    "pyav": PyAVBackend,
    "torchcodec": TorchCodecBackend,
}
_MODULES = {"decord": "decord", "pyav": "av", "torchcodec": "torchcodec.decoders"}


def backend_available(name: str) -> bool:
    """Whether the backend's Python package imports here."""
    if name not in _MODULES:
        raise ValueError(f"unknown video backend {name!r}; choose one of {sorted(_FACTORIES)} or 'auto'")
    try:
        if name == "decord":
            import_decord()
        else:
            importlib.import_module(_MODULES[name])
    except Exception:
        return False
    return True


def get_backend(name: str = "auto") -> Backend:
    """A backend by name; ``"auto"`` takes the first importable one of ``AUTO_BACKEND_ORDER``."""
    if name == "auto":
        for candidate in AUTO_BACKEND_ORDER:
            if backend_available(candidate):
                return _FACTORIES[candidate]()
        raise ImportError("no video backend is installed: install `av` or `decord2` (or `decord`)")
    if not backend_available(name):
        hint = " (and FFmpeg's shared libraries: see docs/video.md)" if name == "torchcodec" else ""
        raise ImportError(
            f"video backend {name!r} needs the `{_MODULES[name]}` package{hint}, which does not import here"
        )
    return _FACTORIES[name]()
