"""Issue 8: one decode per video per group in the rollout engine, at any batch size and cache size."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from agents.backends.base import Generation, GenerationSettings
from agents.rollout import RolloutEngine
from tests.conftest import make_pairs
from vr_env.env import VRJudgeEnv
from vr_env.video.cache import FrameCache
from vr_env.video.source import FrameSource

HEAD = "<Snapshot>s</Snapshot><Think>t</Think><Recommend Answer>TA=1,VQ=2,MQ=0,OA=1,CF=2</Recommend Answer>"
TURNS = [
    HEAD + '<tool_call>{"name": "select_frames", "arguments": {"target_frames": [2, 30, 40, 60, 90]}}</tool_call>',
    HEAD + '<tool_call>{"name": "select_frames", "arguments": {"target_frames": [5, 45, 50, 96]}}</tool_call>',
    "<Snapshot>s</Snapshot><Think>t</Think><Answer>TA=1,VQ=2,MQ=0,OA=1</Answer>",
]


def test_pinned_frames_survive_a_full_cache() -> None:
    cache = FrameCache(max_bytes=300)
    cache.pin("v")
    for i in range(5):
        cache.put(("v", "raw", i), np.zeros(100, np.uint8))
    cache.put(("w", "raw", 0), np.zeros(100, np.uint8))
    assert all(("v", "raw", i) in cache for i in range(5)) and ("w", "raw", 0) not in cache
    assert cache.pinned_bytes == 500
    cache.unpin("v")
    assert cache.nbytes <= 300 and cache.pinned_bytes == 0


class ScriptedBackend:
    def generate(self, conversations: Sequence[Any], settings: GenerationSettings) -> list[Generation]:
        turn = sum(1 for m in conversations[0] if m["role"] == "assistant")
        return [Generation(text=TURNS[min(turn, len(TURNS) - 1)]) for _ in conversations]


@pytest.mark.parametrize("max_batch_size", [None, 3])
def test_one_decode_per_video_per_group_with_a_small_cache(monkeypatch: pytest.MonkeyPatch, max_batch_size) -> None:
    renders: Counter[str] = Counter()
    original = FrameSource._render

    def counting(self: FrameSource, ref: Any, order: list[int]) -> list[np.ndarray]:
        renders[ref.path] += 1
        return original(self, ref, order)

    monkeypatch.setattr(FrameSource, "_render", counting)
    pairs = make_pairs(4)
    cache = FrameCache(max_bytes=200_000)  # less than one video's 48 candidates (~680 KB)
    source = FrameSource(cache=cache)
    engine = RolloutEngine(
        ScriptedBackend(),
        lambda: VRJudgeEnv(dataset=pairs, frame_source=source),
        group_size=3,
        max_batch_size=max_batch_size,
    )
    result = engine.run([0, 1, 2, 3])
    engine.close()
    assert len(result.episodes) == 12 and all(e.tool_calls == 2 for e in result.episodes)
    assert len(renders) == 8 and set(renders.values()) == {1}, renders
    assert cache.pinned_bytes == 0 and cache.nbytes <= cache.max_bytes  # pins released on close
