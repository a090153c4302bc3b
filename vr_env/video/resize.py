"""The Qwen-VL resize rule (``smart_resize``) and a bicubic resize of one RGB frame.

``smart_resize`` follows the formula of Qwen2-VL / Qwen2.5-VL's image processor (both sides rounded
to multiples of ``factor`` = 28, area brought into ``[min_pixels, max_pixels]`` by one common scale,
aspect ratio kept as closely as the rounding allows). The formula misses the budget in corner
cases: a side clamped up to ``factor`` for very elongated images, or rounding past a tight budget.
Only then we repair it, one ``factor`` step at a time: shrink the longer side until the area is
``<= max_pixels``, then grow the side that lost most to rounding while the area is ``< min_pixels``
and the next step still fits. The area is always ``<= max_pixels``, and also ``>= min_pixels``
whenever ``max_pixels >= 2 * min_pixels`` (one growth step at most doubles the area).
Sizes that are already multiples of 28 within the budget are kept.

>>> smart_resize(720, 1280, max_pixels=400 * 28 * 28)
(392, 728)
>>> smart_resize(392, 728, max_pixels=400 * 28 * 28)
(392, 728)
"""

from __future__ import annotations

import math

import numpy as np

#: Qwen-VL pixel unit: 28 x 28 (two merged 14-pixel patches per side).
FACTOR = 28
#: Smallest allowed area: 4 patches.
MIN_PIXELS = 4 * FACTOR * FACTOR
#: Qwen2.5-VL processor default largest area.
MAX_PIXELS = 16384 * FACTOR * FACTOR
#: Qwen's limit on ``max(h, w) / min(h, w)``.
MAX_ASPECT_RATIO = 200


def smart_resize(
    height: int, width: int, factor: int = FACTOR, min_pixels: int = MIN_PIXELS, max_pixels: int = MAX_PIXELS
) -> tuple[int, int]:
    """Target ``(height, width)`` for an image of ``height`` x ``width`` under the Qwen-VL rule."""
    if height < 1 or width < 1:
        raise ValueError(f"image size must be positive, got {height}x{width}")
    if max_pixels < factor * factor:
        raise ValueError(f"max_pixels={max_pixels} is below one {factor}x{factor} patch")
    if min_pixels > max_pixels:
        raise ValueError(f"min_pixels={min_pixels} exceeds max_pixels={max_pixels}")
    if max(height, width) / min(height, width) > MAX_ASPECT_RATIO:
        raise ValueError(f"aspect ratio {max(height, width) / min(height, width):.1f} exceeds {MAX_ASPECT_RATIO}")
    h_bar = round(height / factor) * factor
    w_bar = round(width / factor) * factor
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    # Repairs, only where the formula misses the budget (see the module docstring).
    while h_bar * w_bar > max_pixels:
        if h_bar >= w_bar:
            h_bar -= factor
        else:
            w_bar -= factor
    while h_bar * w_bar < min_pixels:
        # Grow the side that lost most to rounding, if the result still fits max_pixels.
        grow_h = h_bar / height <= w_bar / width
        if grow_h and (h_bar + factor) * w_bar <= max_pixels:
            h_bar += factor
        elif h_bar * (w_bar + factor) <= max_pixels:
            w_bar += factor
        elif (h_bar + factor) * w_bar <= max_pixels:
            h_bar += factor
        else:
            break
    return h_bar, w_bar


def resize_frame(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bicubic (antialiased) resize of a uint8 ``(H, W, 3)`` image to ``size = (height, width)``."""
    from PIL import Image

    height, width = size
    if image.shape[:2] == (height, width):
        return image
    return np.asarray(Image.fromarray(image).resize((width, height), Image.Resampling.BICUBIC))
