"""Frames kept as decoded (YUV 4:2:0 planes) and converted to RGB at the size they are shown at.

A decoded video frame is YUV 4:2:0: 1.5 bytes per pixel, copied out of the decoder without any
arithmetic. Converting every candidate to RGB at full size and then resizing it with PIL costs far
more than decoding, and most candidates are never shown. So the PyAV reader hands out planes,
the cache keeps planes, and :func:`planes_to_rgb` converts one frame to RGB when it is shown and
resizes it to the size it is shown at, with the resize of the model's own image processor
(:func:`vr_env.video.resize.resize_frame`).

>>> import numpy as np
>>> planes = np.full((6, 4), 128, np.uint8)  # a 4x4 mid-grey frame: 4x4 Y, then 2x2 U and V
>>> planes_size(planes), planes_to_rgb(planes, (2, 2)).shape
((4, 4), (2, 2, 3))
"""

from __future__ import annotations

from typing import Any

import numpy as np

PLANAR_FORMAT = "yuv420p"
#: How shown frames are resized: "auto" (``vr_env.video.resize.RESIZE_METHOD``: torchvision, else PIL),
#: "torchvision", "pil" (full-size RGB from libswscale, then that resize), or "swscale" (convert and
#: resize in one libswscale call: fast, but up to 34 grey levels off the model's processor,
#: benchmarks/results/resize.md; kept for comparison only).
RESIZE_SCALER = "auto"


def frame_to_planes(frame: Any) -> np.ndarray:
    """A PyAV ``VideoFrame`` as one ``(H * 3/2, W)`` uint8 array of YUV 4:2:0 planes, or RGB ``(H, W, 3)``
    when the size is odd (4:2:0 needs even sides)."""
    if frame.width % 2 or frame.height % 2:
        return frame.to_ndarray(format="rgb24")
    return frame.to_ndarray(format=PLANAR_FORMAT)


def is_planes(array: np.ndarray) -> bool:
    return array.ndim == 2


def planes_size(planes: np.ndarray) -> tuple[int, int]:
    """``(height, width)`` of the frame stored in ``planes`` (or of an RGB array)."""
    if not is_planes(planes):
        return int(planes.shape[0]), int(planes.shape[1])
    return int(planes.shape[0]) * 2 // 3, int(planes.shape[1])


def planes_to_rgb(planes: np.ndarray, size: tuple[int, int], scaler: str | None = None) -> np.ndarray:
    """RGB uint8 ``(height, width, 3)`` at ``size`` from planes (or an RGB array).

    ``scaler`` ``"auto"``, ``"torchvision"`` or ``"pil"``: convert at full size with libswscale (the
    same pixels as decoding to RGB), then :func:`vr_env.video.resize.resize_frame` with that method.
    ``"swscale"``: convert and resize in one libswscale call (bicubic). ``None``: :data:`RESIZE_SCALER`.
    """
    import av

    from vr_env.video.resize import resize_frame

    scaler = scaler or RESIZE_SCALER
    if scaler == "swscale":
        if not is_planes(planes):
            return _swscale(av.VideoFrame.from_ndarray(planes, format="rgb24"), size)
        return _swscale(av.VideoFrame.from_ndarray(np.ascontiguousarray(planes), format=PLANAR_FORMAT), size)
    if is_planes(planes):
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(planes), format=PLANAR_FORMAT)
        planes = np.ascontiguousarray(frame.to_ndarray(format="rgb24"))
    return resize_frame(planes, size, method=scaler)


def _swscale(frame: Any, size: tuple[int, int]) -> np.ndarray:
    height, width = size
    out = frame.reformat(width=width, height=height, format="rgb24", interpolation="BICUBIC")
    return np.ascontiguousarray(out.to_ndarray())
