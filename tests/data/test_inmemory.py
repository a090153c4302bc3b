"""Frame arrays as videos: validation, conversion, hashing, and sampling through FrameSource."""

from __future__ import annotations

import numpy as np
import pytest

from vr_env.data.inmemory import ArrayClip, InMemoryPairs, as_frames, pair_record, video_ref
from vr_env.video.sampling import uniform_indices
from vr_env.video.source import FrameSource


def test_conversions_and_errors() -> None:
    frames = np.arange(2 * 4 * 6 * 3, dtype=np.uint8).reshape(2, 4, 6, 3)
    assert np.array_equal(as_frames(np.transpose(frames, (0, 3, 1, 2))), frames)
    assert np.array_equal(as_frames(frames.astype(np.float32) / 255.0), frames)
    copy = as_frames(frames)
    assert copy is not frames and copy.flags.writeable
    for bad, message in [
        (np.zeros((4, 8, 8)), "shape"),
        (np.zeros((4, 8, 8, 4)), "3 colour channels"),
        (np.full((1, 2, 2, 3), 2.0), r"\[0, 1\]"),
        (np.full((1, 2, 2, 3), np.nan), "NaN"),
        (np.zeros((1, 2, 2, 3), dtype=np.int64), "dtype"),
        (np.zeros((0, 2, 2, 3), dtype=np.uint8), "at least one frame"),
    ]:
        with pytest.raises(ValueError, match=message):
            as_frames(bad)


def test_content_hash_names_the_video_and_the_caller_array_stays_writable() -> None:
    frames = np.random.default_rng(0).integers(0, 255, (5, 8, 10, 3), dtype=np.uint8)
    a, b = video_ref(frames), video_ref(frames.copy())
    assert a.path == b.path and a.path.startswith("array:") and a.num_frames == 5
    assert frames.flags.writeable
    frames[0] = 0
    assert video_ref(frames).path != a.path
    assert video_ref("clip.mp4").path.endswith("/clip.mp4")


def test_frame_source_samples_array_clips() -> None:
    frames = np.stack([np.full((28, 28, 3), 10 * i, dtype=np.uint8) for i in range(10)])
    ref = video_ref(frames)
    clip = ref.clip
    assert isinstance(clip, ArrayClip) and (clip.num_frames, clip.height, clip.width) == (10, 28, 28)
    source = FrameSource(cache_bytes=1 << 20)
    first, last = source.frames(ref, [0, 4], frames_per_video=5, max_pixels=28 * 28, min_pixels=28 * 28)
    picked = uniform_indices(10, 5)[[0, 4]]
    assert first.shape == (28, 28, 3) and [first[0, 0, 0], last[0, 0, 0]] == [10 * i for i in picked]


def test_in_memory_pairs_are_refillable() -> None:
    frames = np.zeros((3, 8, 8, 3), dtype=np.uint8)
    pairs = InMemoryPairs([pair_record("a", frames, frames, "p")])
    assert len(pairs) == 1 and pairs[0].labels == {}
    pairs.replace([pair_record("b", frames, "x.mp4", "q"), pair_record("c", frames, frames, "r")])
    assert [r.pair_id for r in pairs] == ["b", "c"]
