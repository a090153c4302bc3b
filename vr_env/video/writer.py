"""Write uint8 RGB frames to an H.264 (yuv420p) mp4 file with PyAV."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np


class VideoWriteError(RuntimeError):
    """The encoder failed; the message names the file."""


def write_mp4(
    path: str | Path,
    frames: np.ndarray | Iterable[np.ndarray],
    fps: float,
    *,
    crf: int = 18,
    preset: str = "veryfast",
    gop: int = 12,
    pad_odd: bool = True,
) -> Path:
    """Encode ``frames`` (``(n, H, W, 3)`` uint8, or an iterable of ``(H, W, 3)`` uint8) to ``path``.

    yuv420p needs even sides: with ``pad_odd`` an odd height / width is padded by repeating the
    last row / column, otherwise it is an error. ``gop`` is the keyframe interval (short keeps
    seeking cheap). Parent folders are created; a partial file is removed on error.
    """
    import av  # imported here so that importing vr_env.video never needs PyAV

    path = Path(path)
    try:
        valid_fps = math.isfinite(float(fps)) and float(fps) > 0
    except (TypeError, ValueError):
        valid_fps = False
    if not valid_fps:
        raise ValueError(f"{path}: fps must be a finite number > 0, got {fps!r}")
    if isinstance(frames, np.ndarray) and frames.ndim != 4:
        raise ValueError(f"{path}: frames must have shape (n, H, W, 3), got {frames.shape}")
    rate = Fraction(float(fps)).limit_denominator(1001)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    try:
        with av.open(str(path), mode="w", format="mp4") as container:
            stream = None
            for count, frame in enumerate(_checked(path, frames, pad_odd), start=1):
                if stream is None:
                    stream = container.add_stream("libx264", rate=rate)
                    stream.height, stream.width = frame.shape[:2]
                    stream.pix_fmt = "yuv420p"
                    stream.codec_context.gop_size = gop
                    stream.options = {"crf": str(crf), "preset": preset}
                    first_shape = frame.shape
                elif frame.shape != first_shape:
                    raise ValueError(f"{path}: frame {count - 1} has shape {frame.shape}, frame 0 had {first_shape}")
                container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
            if stream is None:
                raise ValueError(f"{path}: no frames to write")
            container.mux(stream.encode(None))
    except ValueError:
        path.unlink(missing_ok=True)
        raise
    except (av.FFmpegError, OSError) as exc:
        path.unlink(missing_ok=True)
        raise VideoWriteError(f"{path}: could not encode H.264 mp4 ({exc})") from exc
    return path


def _checked(path: Path, frames: np.ndarray | Iterable[np.ndarray], pad_odd: bool) -> Iterator[np.ndarray]:
    """Validate each frame (uint8, ``(H, W, 3)``) and make its sides even."""
    for i, frame in enumerate(frames):
        frame = np.asarray(frame)
        if frame.dtype != np.uint8:
            raise ValueError(f"{path}: frame {i} has dtype {frame.dtype}; convert to uint8 (0..255) first")
        if frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"{path}: frame {i} must have shape (H, W, 3) RGB, got {frame.shape}")
        h, w = frame.shape[:2]
        if h < 2 or w < 2:
            raise ValueError(f"{path}: frame {i} is too small ({h}x{w})")
        if h % 2 or w % 2:
            if not pad_odd:
                raise ValueError(f"{path}: H.264 yuv420p needs even sides, frame {i} is {h}x{w} (pass pad_odd=True)")
            frame = np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
        yield np.ascontiguousarray(frame)
