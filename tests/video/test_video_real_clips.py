"""Both backends on the 4 real text-to-video clips in ../shared/data (VideoGen-Reward example, MIT)."""

from pathlib import Path

import numpy as np
import pytest

from vr_env.data.records import VideoRef
from vr_env.video import FrameCache, FrameSource, backend_available

CLIPS = {"example_1_A.mp4": 126, "example_1_B.mp4": 152, "example_2_A.mp4": 144, "example_2_B.mp4": 128}
PATCH = 28 * 28

pytestmark = pytest.mark.skipif(
    not (backend_available("decord") and backend_available("pyav")), reason="needs both decord and av"
)


@pytest.fixture
def videos(videogen_example: Path) -> Path:
    return videogen_example / "videos"


@pytest.mark.parametrize("name", sorted(CLIPS))
def test_backends_agree_on_real_clips(videos, name):
    ref = VideoRef(str(videos / name))
    sources = [FrameSource(b, cache=FrameCache(1 << 28), strategy="requested") for b in ("decord", "pyav")]
    counts = [s.num_frames(ref) for s in sources]
    assert counts == [CLIPS[name]] * 2
    indices = [s.candidate_indices(ref, 48) for s in sources]
    assert indices[0].tolist() == indices[1].tolist()
    positions = [0, 11, 23]  # decoding stops after the last one asked: keeps the test fast
    images = [s.frames(ref, positions, 48, max_pixels=400 * PATCH) for s in sources]
    for a, b in zip(*images, strict=True):
        assert a.shape == b.shape and a.shape[0] % 28 == 0 and a.shape[1] % 28 == 0
        assert a.shape[0] * a.shape[1] <= 400 * PATCH
        assert float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean()) < 2.0
    assert float(np.abs(images[0][0].astype(np.int16) - images[0][2]).mean()) > 1.0  # different frames
