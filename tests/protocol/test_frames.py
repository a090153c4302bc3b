"""The one frame numbering and the protocol numbers (vr_env.protocol.frames)."""

from __future__ import annotations

import pytest

from vr_env.config import EnvConfig
from vr_env.protocol.frames import ProtocolSpec
from vr_env.protocol.prompts import frame_label


def test_frame_positions_span_one_index_space() -> None:
    spec = EnvConfig(frames_per_video=10).protocol
    assert spec.locate(1) == (1, 0)
    assert spec.locate(10) == (1, 9)
    assert spec.locate(11) == (2, 0)
    assert spec.locate(20) == (2, 9)
    for bad in (0, 21):
        with pytest.raises(ValueError):
            spec.locate(bad)


def test_frame_id_is_the_inverse_of_locate() -> None:
    spec = ProtocolSpec(frames_per_video=7)
    for frame_id in range(1, spec.total_frames + 1):
        assert spec.frame_id(*spec.locate(frame_id)) == frame_id
    with pytest.raises(ValueError):
        spec.frame_id(3, 0)
    with pytest.raises(ValueError):
        spec.frame_id(1, 7)


@pytest.mark.parametrize(("f", "n_in"), [(48, 8), (64, 8), (5, 10), (3, 2)])
def test_initial_frames_are_evenly_spread_over_both_videos(f: int, n_in: int) -> None:
    ids = EnvConfig(frames_per_video=f, initial_frames=n_in).protocol.initial_frame_ids()
    assert len(ids) == n_in
    first, second = ids[: n_in // 2], ids[n_in // 2 :]
    assert all(1 <= i <= f for i in first) and all(f < i <= 2 * f for i in second)
    assert [i + f for i in first] == list(second)


def test_config_numbers_come_from_the_spec() -> None:
    cfg = EnvConfig(frames_per_video=12, initial_frames=4, max_frames_per_call=3, max_tool_calls=2, memory_window=2)
    spec = cfg.protocol
    assert (cfg.total_frames, cfg.max_turns, cfg.max_visible_frames) == (24, 3, 10)
    assert (spec.total_frames, spec.max_turns, spec.max_visible_frames) == (24, 3, 10)


def test_frame_label_uses_the_numbering() -> None:
    assert frame_label(55, EnvConfig()) == "Frame 55 (video 2, #7):"
    assert frame_label(1, EnvConfig()) == "Frame 1 (video 1, #1):"
