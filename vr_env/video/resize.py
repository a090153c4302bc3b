"""The Qwen-VL resize rule (``smart_resize``) and the bicubic resize of one RGB frame that Qwen2.5-VL's
image processor applies (``resize_frame``).

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


#: How frames are resized: "torchvision" (the resize of Qwen2.5-VL's default image processor in
#: transformers 5: identical pixels, and the fastest in benchmarks/resize.py), "pil" (PIL bicubic:
#: up to 2 grey levels off that processor) or "auto": torchvision when torch and torchvision import,
#: else PIL. See docs/video.md.
RESIZE_METHOD = "auto"
RESIZE_METHODS: tuple[str, ...] = ("auto", "torchvision", "pil")
_resolved: dict[str, str] = {}


def resize_method(method: str | None = None) -> str:
    """The concrete method ``"torchvision"`` or ``"pil"`` that ``method`` (default :data:`RESIZE_METHOD`) means here."""
    method = method or RESIZE_METHOD
    if method not in RESIZE_METHODS:
        raise ValueError(f"unknown resize method {method!r}; choose one of {list(RESIZE_METHODS)}")
    if method != "auto":
        return method
    if "auto" not in _resolved:
        try:
            import torch  # noqa: F401
            import torchvision.transforms.v2.functional  # noqa: F401
        except Exception:
            _resolved["auto"] = "pil"
        else:
            _resolved["auto"] = "torchvision"
    return _resolved["auto"]


def resize_frame(
    image: np.ndarray, size: tuple[int, int], method: str | None = None, *, bilinear: bool = False
) -> np.ndarray:
    """Bicubic (antialiased) resize of a uint8 ``(H, W, 3)`` image to ``size = (height, width)``.

    ``method``: see :data:`RESIZE_METHOD`. ``bilinear``: antialiased bilinear instead (the
    environment's observation thumbnails; torchvision's is within 1 grey level of PIL's and about 7x
    faster). An image already of that size is returned as is.
    """
    height, width = size
    if image.shape[:2] == (height, width):
        return image
    if resize_method(method) == "torchvision":
        return _resize_torchvision(image, size, bilinear)
    from PIL import Image

    resample = Image.Resampling.BILINEAR if bilinear else Image.Resampling.BICUBIC
    return np.asarray(Image.fromarray(np.ascontiguousarray(image)).resize((width, height), resample))


def _resize_torchvision(image: np.ndarray, size: tuple[int, int], bilinear: bool = False) -> np.ndarray:
    """The processor's own call: ``tvF.resize`` of a uint8 CHW tensor, bicubic, antialias."""
    import torch
    from torchvision.transforms.v2 import InterpolationMode
    from torchvision.transforms.v2 import functional as tvf

    if not image.flags.writeable or not image.flags.c_contiguous:
        image = np.array(image)  # torch wants a writable buffer (cached frames are read-only)
    chw = torch.from_numpy(image).permute(2, 0, 1)
    mode = InterpolationMode.BILINEAR if bilinear else InterpolationMode.BICUBIC
    out = tvf.resize(chw, [int(size[0]), int(size[1])], interpolation=mode, antialias=True)
    return np.ascontiguousarray(out.permute(1, 2, 0).numpy())
