"""The one episode driver: continuous batching, typed records, data errors versus judge errors."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from vr_env.data.base import PairDataset, load_dataset
from vr_env.data.records import VideoRef
from vr_env.driver import Decision, EpisodeResult, Job, TurnResult, drive
from vr_env.env import VRJudgeEnv
from vr_env.video import FrameSource
from vr_env.video.prefetch import PrefetchConfig

FINAL = "<Snapshot>-</Snapshot><Think>-</Think><Answer>TA=0, VQ=0, MQ=0, OA=0</Answer>"
CALL = (
    "<Snapshot>-</Snapshot><Think>-</Think><Recommend Answer>TA=0, VQ=0, MQ=0, OA=0, CF=2</Recommend Answer>"
    '<tool_call>{"name": "select_frames", "arguments": {"target_frames": [3]}}</tool_call>'
)
SMALL = {"frames_per_video": 16, "max_tool_calls": 2}


class ScriptedBatch:
    """A batch policy: episode of pair i makes ``i % 3`` tool calls, then answers; records batch sizes."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    def act_batch(self, observations: list[Any], infos: list[dict[str, Any]]) -> list[Any]:
        self.batches.append([int(i["pair_index"]) for i in infos])
        out = []
        for info in infos:
            text = CALL if info["tool_calls"] < info["pair_index"] % 3 else FINAL
            out.append(Decision(text, output={"pair": info["pair_index"], "turn": info["turn"]}))
        return out


def envs(n: int, dataset: PairDataset | None = None) -> list[VRJudgeEnv]:
    data = dataset or load_dataset("synthetic", n=8, frames_per_video=16)
    return [VRJudgeEnv(dataset=data, **SMALL) for _ in range(n)]


def test_continuous_batching_refills_slots_and_reports_every_turn() -> None:
    policy = ScriptedBatch()
    turns: list[TurnResult] = []
    episodes: list[EpisodeResult] = []
    jobs = [Job(i, seed=i, index=i) for i in range(6)]
    stats = drive(envs(2), policy, jobs, on_turn=turns.append, on_episode=episodes.append)
    # Pair i takes (i % 3) + 1 turns: 1, 2, 3, 1, 2, 3 = 12 turns.
    assert stats.turns == len(turns) == 12 and stats.episodes == 6 and stats.skipped == 0
    assert all(len(batch) <= 2 for batch in policy.batches)
    assert sum(len(b) for b in policy.batches) == 12 and stats.policy_calls == len(policy.batches) < 12
    assert policy.batches[0] == [0, 1] and policy.batches[1] == [2, 1]  # pair 0 ended: its slot took pair 2
    by_pair = {e.job.pair_index: e for e in episodes}
    assert sorted(by_pair) == list(range(6))
    for pair, episode in by_pair.items():
        assert episode.ok and episode.terminated and episode.turns == pair % 3 + 1 and episode.tool_calls == pair % 3
        assert episode.used_tool == (pair % 3 > 0) and set(episode.reward_components) >= {"format", "accuracy"}
    for turn in turns:
        assert turn.output == {"pair": turn.job.pair_index, "turn": turn.turn}
        assert turn.context_info["turn"] == turn.turn and turn.context_info["context"] is not None
        assert turn.info["turn"] == turn.turn + 1


def test_data_errors_skip_the_pair_and_judge_errors_are_scored() -> None:
    records = list(load_dataset("synthetic", n=4, frames_per_video=16))
    records[1] = replace(records[1], video_2=VideoRef("/nowhere/missing.mp4"))
    dataset = PairDataset(records, name="with-missing")
    episodes: list[EpisodeResult] = []

    def judge(observation: Any, info: dict[str, Any]) -> str:
        return "no protocol at all" if info["pair_index"] == 2 else FINAL

    drive(envs(2, dataset), [judge, judge], [Job(i) for i in range(4)], on_episode=episodes.append)
    by_pair = {e.job.pair_index: e for e in episodes}
    assert sorted(by_pair) == [0, 1, 2, 3]
    skipped = by_pair[1]
    assert skipped.status == "skipped" and "missing.mp4" in (skipped.reason or "") and skipped.turns == 0
    garbled = by_pair[2]  # the judge's fault: played to the end, penalized, never skipped
    assert garbled.ok and garbled.truncated and garbled.invalid_turns == 3 and garbled.final_answer is None
    assert garbled.total_reward < 0 and garbled.reward_components["format"] == 0.0


def test_policy_bugs_propagate_and_wrong_batch_sizes_are_named() -> None:
    class Broken:
        def act_batch(self, observations: list[Any], infos: list[Any]) -> list[str]:
            raise RuntimeError("bug in the policy")

    with pytest.raises(RuntimeError, match="bug in the policy"):
        drive(envs(1), Broken(), [Job(0)])

    class Short:
        def act_batch(self, observations: list[Any], infos: list[Any]) -> list[str]:
            return [FINAL]

    with pytest.raises(ValueError, match="1 actions for 2 episodes"):
        drive(envs(2), Short(), [Job(0), Job(1)])


def test_per_slot_agents_are_reset_with_the_episode_seed() -> None:
    seen: list[tuple[int, int | None]] = []

    class Agent:
        def __init__(self, slot: int) -> None:
            self.slot = slot

        def reset(self, seed: int | None = None) -> None:
            seen.append((self.slot, seed))

        def act(self, observation: Any, info: Any) -> str:
            return FINAL

    drive(envs(2), [Agent(0), Agent(1)], [Job(i, seed=100 + i) for i in range(3)])
    assert sorted(s for _, s in seen) == [100, 101, 102] and {slot for slot, _ in seen} == {0, 1}


def test_jobs_are_pulled_lazily() -> None:
    pulled: list[int] = []

    def jobs():
        for i in range(4):
            pulled.append(i)
            yield Job(i)

    results: list[EpisodeResult] = []
    drive(envs(1), [lambda obs: FINAL], jobs(), on_episode=results.append)
    assert pulled == [0, 1, 2, 3] and [r.job.pair_index for r in results] == [0, 1, 2, 3]


# -- decoding ahead (vr_env.video.prefetch) ------------------------------------------------------------


class RecordingSource(FrameSource):
    """A frame source that notes which thread asked for which video, and flags a watched path."""

    def __init__(self, watch: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.calls: list[tuple[str, str]] = []
        self.watch = watch
        self.watched = threading.Event()

    def frames(self, ref: VideoRef, *args: Any, **kwargs: Any) -> list[Any]:
        self.calls.append((threading.current_thread().name, ref.path))
        try:
            return super().frames(ref, *args, **kwargs)
        finally:
            if ref.path == self.watch and threading.current_thread() is not threading.main_thread():
                self.watched.set()


class WaitsForWorker(ScriptedBatch):
    """Holds the first turn until a prefetch worker has met the source's watched video."""

    def __init__(self, source: RecordingSource | None) -> None:
        super().__init__()
        self.source = source

    def act_batch(self, observations: list[Any], infos: list[dict[str, Any]]) -> list[Any]:
        if self.source is not None and not self.batches:
            assert self.source.watched.wait(60), "no prefetch worker reached the bad video"
        return super().act_batch(observations, infos)


def prefetch_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("vr-env-prefetch")]


def test_prefetch_changes_no_result(videogen_example: Path, tmp_path: Path) -> None:
    """Real clips, scanner, both orientations: the same results.jsonl with and without decoding ahead."""
    from vr_env.eval.runner import evaluate

    rows = {}
    variants = {"off": 0, "2 workers": 2, "convert ahead": PrefetchConfig(2, convert_ahead=True)}
    for name, prefetch in variants.items():
        source = RecordingSource(cache_bytes=2 * 1024**3)
        env_kwargs = {"dataset": "videogen-reward", "data_root": str(videogen_example)}
        out = tmp_path / name.replace(" ", "-")
        evaluate("scanner", env_kwargs, swap_check=True, out_dir=out, plots=False, progress=False,
                 frame_source=source, prefetch=prefetch)  # fmt: skip
        lines = (out / "results.jsonl").read_text().splitlines()
        rows[name] = [{k: v for k, v in json.loads(line).items() if k != "seconds"} for line in lines]
        decoded_by = {name for name, _ in source.calls}
        assert any(name.startswith("vr-env-prefetch") for name in decoded_by) == (prefetch != 0)
    assert len(rows["off"]) == 4 and all(r["status"] == "ok" for r in rows["off"])
    assert rows["2 workers"] == rows["off"] and rows["convert ahead"] == rows["off"]  # same rows, same order
    assert not prefetch_threads()


def test_a_bad_video_met_by_a_prefetch_worker_is_counted_as_before(tmp_path: Path) -> None:
    bad = tmp_path / "notes.mp4"
    bad.write_text("not a video at all\n" * 50)
    records = list(load_dataset("synthetic", n=5, frames_per_video=16))
    records[3] = replace(records[3], video_2=VideoRef(str(bad)))
    dataset = PairDataset(records, name="with-bad")
    outcomes = {}
    for workers in (0, 2):
        source = RecordingSource(watch=str(bad), cache_bytes=256 * 1024**2)
        pool = [VRJudgeEnv(dataset=dataset, frame_source=source, **SMALL) for _ in range(2)]

        episodes: list[EpisodeResult] = []
        policy = WaitsForWorker(source if workers else None)
        stats = drive(pool, policy, [Job(i) for i in range(5)], on_episode=episodes.append, prefetch=workers)
        outcomes[workers] = (
            stats.episodes,
            stats.skipped,
            [(e.job.pair_index, e.status, e.reason, e.turns, e.total_reward) for e in episodes],
        )
        if workers:
            assert stats.prefetch_errors == 1
            assert any(n.startswith("vr-env-prefetch") and p == str(bad) for n, p in source.calls)
        for env in pool:
            env.close()
        assert source.cache.pinned_videos == 0  # every pin released
    assert outcomes[2] == outcomes[0]
    assert outcomes[0][1] == 1 and "holds text" in str(outcomes[0][2])


def test_prefetch_memory_is_bounded_and_ctrl_c_stops_it_cleanly() -> None:
    source = FrameSource(cache_bytes=64 * 1024**2)
    dataset = load_dataset("synthetic", n=12, frames_per_video=16)
    pool = [VRJudgeEnv(dataset=dataset, frame_source=source, **SMALL)]
    pinned: list[int] = []

    class Interrupted:
        def act_batch(self, observations: list[Any], infos: list[dict[str, Any]]) -> list[str]:
            deadline = time.monotonic() + 60
            while len(pinned) == 2 and source.cache.pinned_videos <= 2 and time.monotonic() < deadline:
                time.sleep(0.001)  # let the workers run ahead (pins beyond the episode's own pair)
            pinned.append(source.cache.pinned_videos)
            if len(pinned) == 6:
                raise KeyboardInterrupt
            time.sleep(0.01)
            return [FINAL] * len(infos)

    with pytest.raises(KeyboardInterrupt):
        drive(
            pool,
            Interrupted(),
            [Job(i) for i in range(12)],
            prefetch=PrefetchConfig(2, pairs_ahead=2, single_threaded=True),
        )
    # the episode's own pair (2 videos) plus at most 2 pairs ahead
    assert max(pinned) <= 2 * (1 + 2) and max(pinned) > 2
    assert not prefetch_threads()  # stopped and joined, not left running
    pool[0].close()
    assert source.cache.pinned_videos == 0


def test_prefetch_config() -> None:
    assert PrefetchConfig.of(None).enabled and PrefetchConfig.of(True) == PrefetchConfig()
    assert not PrefetchConfig.of(False).enabled and not PrefetchConfig.of(0).enabled
    assert PrefetchConfig.of(3).ahead == 6 and PrefetchConfig(2, pairs_ahead=5).ahead == 5
    for bad in ({"workers": -1}, {"workers": True}, {"pairs_ahead": 0}):
        with pytest.raises(ValueError, match="prefetch"):
            PrefetchConfig(**bad)  # type: ignore[arg-type]


def test_eval_cli_prefetch_switch(tmp_path: Path) -> None:
    from vr_env.cli import main

    for workers in ("0", "2"):
        out = tmp_path / workers
        args = ["eval", "--agent", "scanner", "--limit", "3", "--out", str(out), "--no-plots", "--no-progress"]
        assert main([*args, "--prefetch-workers", workers]) == 0
        assert len((out / "results.jsonl").read_text().splitlines()) == 3
    assert main([*args[:-2], "--out", str(tmp_path / "bad"), "--prefetch-workers", "-1"]) == 2
    assert main([*args, "--out", str(tmp_path / "convert"), "--convert-ahead"]) == 0
    assert len((tmp_path / "convert" / "results.jsonl").read_text().splitlines()) == 3
    assert main([*args, "--out", str(tmp_path / "none"), "--convert-ahead", "--prefetch-workers", "0"]) == 2


def test_a_lazy_job_stream_is_prefetched_from_upcoming_without_being_consumed_early() -> None:
    """The rollout engine's case: a generator that drops jobs as results come in, plus the job list."""
    planned = [Job(i % 3, index=i) for i in range(6)]  # pairs 0, 1, 2, 0, 1, 2
    outcomes = []
    for prefetch in (0, 2):
        pulled: list[int] = []
        source = FrameSource(cache_bytes=64 * 1024**2)

        def jobs(pulled: list[int] = pulled, source: FrameSource = source, wait: bool = prefetch > 0) -> Any:
            deadline = time.monotonic() + 60
            while wait and not source.cache.pinned_videos and time.monotonic() < deadline:
                time.sleep(0.001)  # until a worker has started on a pair (then it cannot be cancelled)
            for job in planned:
                pulled.append(job.index)
                yield job

        results: list[EpisodeResult] = []
        dataset = load_dataset("synthetic", n=3, frames_per_video=16)
        pool = [VRJudgeEnv(dataset=dataset, frame_source=source, **SMALL)]
        stats = drive(pool, ScriptedBatch(), jobs(), on_episode=results.append, prefetch=prefetch, upcoming=planned)
        assert pulled == list(range(6))  # pulled one at a time, as without prefetch
        assert (1 <= stats.prefetched <= 3) if prefetch else stats.prefetched == 0  # at most once per pair
        outcomes.append([(r.job.index, r.status, r.turns, r.total_reward, r.final_answer) for r in results])
    assert outcomes[1] == outcomes[0]
