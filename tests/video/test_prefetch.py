"""Decoding ahead, below the driver: a stop request ends a PyAV decode within a frame, and a
cancelled warm is not an error (tests/test_driver.py covers prefetch in the episode driver)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from vr_env.video.backends import DecodeCancelled, PyAVBackend, stoppable_decoding
from vr_env.video.prefetch import Prefetcher


def test_a_stop_request_ends_a_decode_and_only_in_its_own_thread(videogen_example: Path) -> None:
    reader = PyAVBackend().open(str(videogen_example / "videos" / "example_1_A.mp4"))
    stop = threading.Event()
    with stoppable_decoding(stop):
        assert len(reader.read([0, 5])) == 2  # not set: decodes as usual
        stop.set()
        with pytest.raises(DecodeCancelled):
            reader.read_planes([0, 100])
    assert len(reader.read([0, 5])) == 2  # outside the block the event is not looked at


def test_a_cancelled_warm_is_not_an_error_and_a_failing_one_is_counted() -> None:
    def warm(key: object) -> None:
        if key == "cancelled":
            raise DecodeCancelled("clip.mp4")
        if key == "broken":
            raise ValueError("unreadable")

    with Prefetcher(warm, workers=1, pairs_ahead=3) as prefetcher:
        prefetcher.schedule(["cancelled", "broken", "fine"])  # one worker: run in this order
        deadline = time.monotonic() + 60
        while prefetcher.warmed < 1 and time.monotonic() < deadline:
            time.sleep(0.001)
    assert [(key, str(exc)) for key, exc in prefetcher.errors] == [("broken", "unreadable")]
    assert prefetcher.warmed == 1  # "fine"


def test_converting_ahead_leaves_tool_calls_nothing_to_convert(
    videogen_example: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After ``warm_pair(convert=True)`` the scanner's tool calls (3 x 8 frames) are cache lookups;
    without it, they convert in the driver's thread."""
    import vr_env.video.source as source_module
    from vr_env.agent_registry import make_agent
    from vr_env.driver import Job
    from vr_env.env import VRJudgeEnv
    from vr_env.video import FrameSource
    from vr_env.video.prefetch import warm_pair

    converted: list[str] = []
    convert = source_module.planes_to_rgb

    def counting(*args: object, **kwargs: object) -> object:
        converted.append(threading.current_thread().name)
        return convert(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(source_module, "planes_to_rgb", counting)
    counts = {}
    for ahead in (False, True):
        env = VRJudgeEnv(
            dataset="videogen-reward",
            data_root=str(videogen_example),
            frame_source=FrameSource(cache_bytes=2 * 1024**3),
        )
        release = warm_pair(env, Job(0), convert=ahead)
        converted.clear()
        agent = make_agent("scanner", seed=0)
        observation, info = env.reset(seed=0, options={"pair_index": 0})
        agent.reset(0)
        terminated = truncated = False
        calls = 0
        while not (terminated or truncated):
            observation, _, terminated, truncated, info = env.step(agent.act(observation, info))
            calls = int(info["tool_calls"])
        counts[ahead] = len(converted)
        release()
        env.close()
        assert calls == 3
    assert counts == {False: 24, True: 0}
