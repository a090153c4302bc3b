import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from vr_env.video import VideoError, check_positions, uniform_indices


@given(n=st.integers(1, 5000), f=st.integers(1, 300))
def test_rule_is_centre_of_equal_segments(n, f):
    idx = uniform_indices(n, f)
    expected = np.floor((np.arange(f) + 0.5) * n / f).astype(np.int64)
    assert idx.dtype == np.int64
    assert idx.tolist() == expected.tolist()
    assert idx.min() >= 0 and idx.max() < n
    assert np.all(np.diff(idx) >= 0)


def test_paper_default():
    idx = uniform_indices(126, 48)
    assert len(idx) == 48 and len(set(idx.tolist())) == 48
    assert idx[0] == 1 and idx[-1] == 124


@given(n=st.integers(1, 47))
def test_short_video_repeats_indices_and_covers_every_frame(n):
    idx = uniform_indices(n, 48)
    assert len(idx) == 48  # every position stays valid
    assert set(idx.tolist()) == set(range(n))  # frames repeat, none is skipped


def test_bad_arguments():
    with pytest.raises(ValueError):
        uniform_indices(0, 8)
    with pytest.raises(ValueError):
        uniform_indices(10, 0)


def test_check_positions():
    assert check_positions([0, np.int64(47), 3], 48, "a.mp4").tolist() == [0, 47, 3]
    for bad in ([48], [-1], [1.5], [True], ["3"]):
        with pytest.raises(VideoError, match=r"a\.mp4"):
            check_positions(bad, 48, "a.mp4")
