from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vr_env.memory import MemoryWindow


@given(st.integers(0, 5), st.integers(0, 12))
def test_at_most_p_rounds_visible(size: int, latest: int) -> None:
    window = MemoryWindow(size)
    visible = [r for r in range(1, latest + 1) if window.is_visible(r, latest)]
    assert len(visible) == min(size, latest)
    assert visible == list(range(latest - len(visible) + 1, latest + 1))  # the most recent ones
    assert window.is_visible(None, latest)  # initial frames always stay


def test_negative_size_rejected() -> None:
    with pytest.raises(ValueError):
        MemoryWindow(-1)
