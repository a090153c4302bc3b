from __future__ import annotations

import copy
import multiprocessing as mp

from gymnasium.vector.utils import batch_space, create_shared_memory, read_from_shared_memory, write_to_shared_memory
from hypothesis import given
from hypothesis import strategies as st

from vr_env.spaces import TextSpace, observation_space


def test_samples_are_protocol_like_and_seeded() -> None:
    a, b = TextSpace(256, seed=1), TextSpace(256, seed=1)
    samples = [a.sample() for _ in range(200)]
    assert samples == [b.sample() for _ in range(200)]
    assert all(a.contains(s) for s in samples)
    joined = "".join(samples)
    assert "<tool_call>" in joined and "OA=" in joined and any(ord(c) > 127 for c in joined)


@given(st.text(max_size=300))
def test_contains_any_unicode_within_length(text: str) -> None:
    assert TextSpace(300).contains(text)
    assert not TextSpace(max(0, len(text) - 1)).contains(text) or text == ""


def test_batch_space_and_equality() -> None:
    batched = batch_space(TextSpace(10), n=3)
    assert len(batched.spaces) == 3 and batched.spaces[0] == TextSpace(10)
    assert TextSpace(10) != TextSpace(11)


def test_shared_memory_round_trip_unicode() -> None:
    space = TextSpace(32)
    memory = create_shared_memory(space, n=2, ctx=mp)
    view = read_from_shared_memory(space, memory, n=2)
    write_to_shared_memory(space, 0, "héllo ✓ 视频", memory)
    write_to_shared_memory(space, 1, "x" * 32, memory)
    assert list(view) == ["héllo ✓ 视频", "x" * 32]  # a live view
    write_to_shared_memory(space, 0, "", memory)
    assert view[0] == "" and copy.deepcopy(view) == ("", "x" * 32)


def test_observation_space_shapes() -> None:
    space = observation_space(16, (64, 48), 96, 100)
    assert space["frames"].shape == (16, 64, 48, 3) and space["frame_ids"].high.max() == 96
