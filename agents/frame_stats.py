"""Frame statistics the scripted judges read: noise (median absolute Laplacian), sharpness (steepest
edge over contrast), blockiness (gradient energy on 8-pixel block boundaries), the object's colour,
area, box fill and centroid (pixels far from the border colour).

>>> import numpy as np
>>> flat = frame_stats(np.full((32, 32, 3), 128, np.uint8))
>>> flat.noise, flat.colour is None
(0.0, True)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np


def visible_frames(observation: Mapping[str, Any]) -> list[tuple[int, np.ndarray]]:
    """``(frame_id, image)`` of every visible frame in an observation."""
    frames, ids, mask = observation.get("frames"), observation.get("frame_ids"), observation.get("frame_mask")
    if frames is None or ids is None or mask is None:
        return []
    return [(int(ids[k]), np.asarray(frames[k])) for k in range(len(ids)) if mask[k] and ids[k] > 0]


@dataclass(frozen=True)
class FrameStats:
    """Simple statistics of one frame (see the module docstring)."""

    noise: float
    sharpness: float
    blockiness: float
    contrast: float
    colour: tuple[float, float, float] | None
    area: float
    fill: float
    centroid: tuple[float, float] | None


def _box_blur(image: np.ndarray, radius: int) -> np.ndarray:
    """Mean over a ``(2r+1)^2`` window (edge padded), per channel."""
    size = 2 * radius + 1
    padded = np.pad(image, ((radius, radius), (radius, radius), (0, 0)), mode="edge")
    c = np.cumsum(np.cumsum(padded, axis=0, dtype=np.float64), axis=1)
    c = np.pad(c, ((1, 0), (1, 0), (0, 0)))
    total = c[size:, size:] - c[:-size, size:] - c[size:, :-size] + c[:-size, :-size]
    return (total / (size * size)).astype(np.float32)


def frame_stats(image: np.ndarray, block: int = 8) -> FrameStats:
    """Statistics of one uint8 ``(H, W, 3)`` frame."""
    img = np.asarray(image, dtype=np.float32)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    h, w = img.shape[:2]
    grey = img.mean(axis=2)
    lap = 4 * grey[1:-1, 1:-1] - grey[:-2, 1:-1] - grey[2:, 1:-1] - grey[1:-1, :-2] - grey[1:-1, 2:]
    noise = float(np.median(np.abs(lap))) if lap.size else 0.0

    border = np.concatenate([img[0], img[-1], img[:, 0], img[:, -1]])
    background = np.median(border, axis=0)
    smooth = _box_blur(img, 2)
    distance = np.abs(smooth - background).max(axis=2)
    contrast = float(np.percentile(distance, 99.8))

    dx = np.abs(np.diff(img, axis=1)).max(axis=2)
    dy = np.abs(np.diff(img, axis=0)).max(axis=2)
    steepest = max(float(dx.max(initial=0.0)), float(dy.max(initial=0.0)))
    sharpness = steepest / contrast if contrast > 1e-6 else 0.0
    gdx, gdy = np.abs(np.diff(grey, axis=1)), np.abs(np.diff(grey, axis=0))
    on_x = (np.arange(w - 1) + 1) % block == 0
    on_y = (np.arange(h - 1) + 1) % block == 0
    energy = float(gdx.sum() + gdy.sum())
    blockiness = float(gdx[:, on_x].sum() + gdy[on_y, :].sum()) / energy if energy > 1e-6 else 0.0

    colour: tuple[float, float, float] | None = None
    centroid: tuple[float, float] | None = None
    area = fill = 0.0
    if contrast >= 25.0:
        mask = distance > 0.5 * contrast
        core = distance > 0.8 * contrast
        area = float(mask.sum())
        if area > 0:
            ys, xs = np.nonzero(mask)
            fill = area / float((ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1))
            centroid = (float(xs.mean()) + 0.5, float(ys.mean()) + 0.5)
            colour = tuple(float(v) for v in np.median(img[core], axis=0))  # type: ignore[assignment]
    return FrameStats(noise, sharpness, blockiness, contrast, colour, area, fill, centroid)
