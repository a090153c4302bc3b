import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from vr_env.video import resize_frame, smart_resize
from vr_env.video.resize import resize_method

PATCH = 28 * 28


def qwen_formula(height, width, factor=28, min_pixels=4 * PATCH, max_pixels=16384 * PATCH):
    """The Qwen2-VL image processor's smart_resize, transcribed (transformers 5.x)."""
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
    return h_bar, w_bar


sizes = st.integers(1, 4096)
budgets = st.tuples(st.integers(1, 300), st.integers(1, 20000)).map(lambda t: (t[0] * PATCH, t[1] * PATCH))


@given(h=sizes, w=sizes, budget=budgets)
def test_properties(h, w, budget):
    min_pixels, max_pixels = budget
    assume(min_pixels <= max_pixels and max(h, w) / min(h, w) <= 200)
    rh, rw = smart_resize(h, w, min_pixels=min_pixels, max_pixels=max_pixels)
    assert rh % 28 == 0 and rw % 28 == 0 and rh >= 28 and rw >= 28
    assert rh * rw <= max_pixels
    if max_pixels >= 2 * min_pixels:
        assert rh * rw >= min_pixels
    ref = qwen_formula(h, w, min_pixels=min_pixels, max_pixels=max_pixels)
    if ref[0] > 0 and ref[1] > 0 and min_pixels <= ref[0] * ref[1] <= max_pixels:
        assert (rh, rw) == ref  # identical to Qwen wherever Qwen meets the budget


@given(h=st.integers(56, 4096), w=st.integers(56, 4096), k=st.integers(64, 2000))
def test_aspect_kept_and_idempotent(h, w, k):
    assume(max(h, w) / min(h, w) <= 4)
    rh, rw = smart_resize(h, w, max_pixels=k * PATCH)
    # Aspect kept: one common scale c puts each side within one 28-pixel step of its result.
    low = max((rh - 28) / h, (rw - 28) / w)
    high = min((rh + 28) / h, (rw + 28) / w)
    assert low <= high
    assert smart_resize(rh, rw, max_pixels=k * PATCH) == (rh, rw)  # the model's processor keeps our size


def test_paper_budgets_on_real_sizes():
    assert smart_resize(720, 1280, max_pixels=512 * PATCH) == (448, 840)
    assert smart_resize(720, 1280, max_pixels=400 * PATCH) == (392, 728)
    assert smart_resize(384, 672, max_pixels=400 * PATCH) == (392, 672)
    assert smart_resize(10, 10) == (56, 56)  # up to min_pixels


def test_matches_transformers_smart_resize():
    """transformers is part of the test environment (the train extra): a failed import fails here."""
    from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize as hf_resize

    rng = np.random.default_rng(0)
    for _ in range(2000):
        h, w = (int(x) for x in rng.integers(1, 3000, 2))
        if max(h, w) / min(h, w) > 200:
            continue
        lo, hi = sorted(int(x) * PATCH for x in rng.integers(1, 2000, 2))
        ref = hf_resize(h, w, 28, lo, hi)
        if ref[0] * ref[1] and lo <= ref[0] * ref[1] <= hi:
            assert smart_resize(h, w, 28, lo, hi) == ref


def test_errors():
    with pytest.raises(ValueError):
        smart_resize(1, 500)  # aspect ratio over 200
    with pytest.raises(ValueError):
        smart_resize(100, 100, max_pixels=27 * 28)
    with pytest.raises(ValueError):
        smart_resize(100, 100, min_pixels=100 * PATCH, max_pixels=50 * PATCH)


def test_resize_frame():
    img = np.zeros((48, 64, 3), np.uint8)
    img[:, 32:] = 200
    out = resize_frame(img, (56, 84))
    assert out.shape == (56, 84, 3) and out.dtype == np.uint8
    assert out[:, :30].max() < 10 and out[:, -30:].min() > 190
    assert resize_frame(img, (48, 64)) is img


def processor_output(rgb: np.ndarray, max_pixels: int) -> np.ndarray:
    """The uint8 image transformers' default Qwen2.5-VL image processor resizes ``rgb`` to (captured
    just before it rescales and normalizes)."""
    from transformers.models.qwen2_vl.image_processing_qwen2_vl import Qwen2VLImageProcessor

    processor = Qwen2VLImageProcessor(size={"shortest_edge": 4 * PATCH, "longest_edge": max_pixels})
    captured = []
    normalize = processor.rescale_and_normalize

    def capture(images, *args, **kwargs):
        captured.append(images.clone())
        return normalize(images, *args, **kwargs)

    processor.rescale_and_normalize = capture
    processor(images=[rgb], return_tensors="pt")
    return captured[0][0].permute(1, 2, 0).numpy()


def test_shown_frames_are_the_pixels_of_qwen25_vls_own_processor(videogen_example: Path) -> None:
    """The default resize gives what transformers' default Qwen2.5-VL image processor gives from the
    full frame, exactly (PIL bicubic, the earlier default, is up to 2 grey levels off)."""
    import av

    from vr_env.video.planar import planes_to_rgb

    with av.open(str(videogen_example / "videos" / "example_1_A.mp4")) as container:
        frame = next(container.decode(video=0))
    rgb, planes = frame.to_ndarray(format="rgb24"), frame.to_ndarray(format="yuv420p")
    for max_pixels in (512 * PATCH, 400 * PATCH):
        expected = processor_output(rgb, max_pixels)
        size = smart_resize(*rgb.shape[:2], max_pixels=max_pixels)
        assert expected.shape[:2] == size
        np.testing.assert_array_equal(resize_frame(rgb, size), expected)
        np.testing.assert_array_equal(planes_to_rgb(planes, size), expected)  # the cached-planes path
        pil = resize_frame(rgb, size, method="pil")
        assert np.abs(pil.astype(int) - expected).max() <= 2


def test_resize_methods_are_named() -> None:
    img = np.zeros((48, 64, 3), np.uint8)
    assert resize_method("pil") == "pil" and resize_method() in ("torchvision", "pil")
    assert resize_frame(img, (56, 84), method="pil").shape == resize_frame(img, (56, 84)).shape
    with pytest.raises(ValueError, match="unknown resize method"):
        resize_frame(img, (56, 84), method="lanczos")
