import uuid
from dataclasses import dataclass, field

import numpy as np
import pytest

from vr_env.data.records import SyntheticClip, VideoRef
from vr_env.video import FrameCache, FrameSource, VideoError, get_backend

PATCH = 28 * 28


@dataclass
class TinyClip:
    """A synthetic clip: frame i is a flat colour with red = i, so a pixel tells which frame it is."""

    num_frames: int = 30
    fps: float = 10.0
    height: int = 60
    width: int = 90
    rendered: list = field(default_factory=list)

    def render(self, frame_indices: np.ndarray) -> np.ndarray:
        self.rendered.append([int(i) for i in frame_indices])
        out = np.zeros((len(frame_indices), self.height, self.width, 3), np.uint8)
        out[..., 0] = np.asarray(frame_indices, dtype=np.uint8)[:, None, None]
        return out


def synthetic_ref(clip: TinyClip) -> VideoRef:
    return VideoRef(f"synthetic:{uuid.uuid4().hex}", fps=clip.fps, num_frames=clip.num_frames, clip=clip)


def test_synthetic_clip_sampling_resize_and_cache():
    clip = TinyClip()
    assert isinstance(clip, SyntheticClip)
    ref = synthetic_ref(clip)
    source = FrameSource(cache=FrameCache(1 << 26))
    expected = source.candidate_indices(ref, 8)
    assert expected.tolist() == np.floor((np.arange(8) + 0.5) * 30 / 8).astype(int).tolist()
    images = source.frames(ref, [0, 7, 3], 8, max_pixels=16 * PATCH)
    assert [img.shape for img in images] == [(56, 84, 3)] * 3  # 60x90 -> sides rounded to multiples of 28
    assert [int(img[0, 0, 0]) for img in images] == expected[[0, 7, 3]].tolist()
    assert clip.rendered == [expected.tolist()]  # default strategy: every candidate in one call
    source.frames(ref, [1, 2], 8, max_pixels=16 * PATCH)
    assert len(clip.rendered) == 1  # served from the cache
    assert images[0].dtype == np.uint8 and not images[0].flags.writeable


def test_requested_strategy_renders_only_what_is_asked():
    clip = TinyClip()
    ref = synthetic_ref(clip)
    source = FrameSource(cache=FrameCache(1 << 26), strategy="requested")
    source.frames(ref, [5, 1, 5], 8, max_pixels=16 * PATCH)
    idx = source.candidate_indices(ref, 8)
    assert clip.rendered == [sorted({int(idx[5]), int(idx[1])})]


def test_short_synthetic_clip_repeats_frames():
    clip = TinyClip(num_frames=3)
    images = FrameSource(cache=FrameCache(1 << 26)).frames(synthetic_ref(clip), list(range(8)), 8, 16 * PATCH)
    assert [int(img[0, 0, 0]) for img in images] == [0, 0, 0, 1, 1, 2, 2, 2]


def test_budget_is_part_of_the_key():
    ref = synthetic_ref(TinyClip(height=280, width=560))
    source = FrameSource(cache=FrameCache(1 << 26))
    small = source.frames(ref, [0], 4, max_pixels=16 * PATCH)[0]
    large = source.frames(ref, [0], 4, max_pixels=100 * PATCH)[0]
    assert small.shape[0] * small.shape[1] <= 16 * PATCH < large.shape[0] * large.shape[1] <= 100 * PATCH


def test_bad_arguments():
    with pytest.raises(ValueError):
        FrameSource(strategy="bogus")
    with pytest.raises(ValueError):
        FrameSource(cache=FrameCache(10), cache_bytes=10)
    with pytest.raises(ValueError):
        get_backend("bogus")
    ref = synthetic_ref(TinyClip())
    with pytest.raises(VideoError, match=ref.path):
        FrameSource(cache=FrameCache(1 << 20)).frames(ref, [8], 8, 16 * PATCH)
    assert FrameSource(cache=FrameCache(1 << 20)).frames(ref, [], 8, 16 * PATCH) == []
