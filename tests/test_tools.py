from __future__ import annotations

import pytest

from vr_env.config import EnvConfig
from vr_env.protocol.parsing import ToolCall
from vr_env.tools import select_frames


def call(*frames: int) -> ToolCall:
    return ToolCall(raw="", name="select_frames", frames=frames)


def test_valid_selection_keeps_order_and_drops_duplicates() -> None:
    assert select_frames(call(90, 3, 90, 4), EnvConfig()).frames == (90, 3, 4)


@pytest.mark.parametrize("frames", [(0,), (97,), (-1, 5)])
def test_out_of_range_names_the_range(frames: tuple[int, ...]) -> None:
    result = select_frames(call(*frames), EnvConfig())
    assert result.frames == () and "numbered 1..96" in result.error


def test_too_many_frames_is_an_error_not_a_random_trim() -> None:
    result = select_frames(call(*range(1, 10)), EnvConfig())
    assert result.frames == () and "at most 8" in result.error
    assert select_frames(call(*range(1, 4)), EnvConfig(max_frames_per_call=2)).error.startswith("3 frames")


def test_empty_and_unparsable() -> None:
    assert "no frames" in select_frames(call(), EnvConfig()).error
    assert select_frames(ToolCall(raw="x", error="bad json"), EnvConfig()).error == "bad json"
