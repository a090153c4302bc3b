"""Cold-start traces: the scanner teacher, the keep/reject filter, bad inputs kept apart and counted."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from agents.records import load_jsonl, save_jsonl
from agents.replay import Replayer, ReplayError, record_texts
from agents.train.traces import build_traces, rejection_reasons
from vr_env.data.records import LABEL_KEYS

ENV = {"frames_per_video": 16, "max_tool_calls": 2, "dataset_kwargs": {"n": 12}}


def _final(values: dict[str, int]) -> str:
    body = ", ".join(f"{k}={values[k]}" for k in LABEL_KEYS)
    return f"<Snapshot>frame 3 sharp</Snapshot><Think>compare</Think><Answer>{body}</Answer>"


@pytest.mark.parametrize("key", LABEL_KEYS)
def test_a_trace_wrong_in_any_one_key_is_rejected(make_env: Any, key: str) -> None:
    env = make_env(dataset_kwargs={"n": 12})
    labels = dict(env.unwrapped.dataset[4].labels)
    right = record_texts(env, [_final(labels)], pair_index=4)
    assert rejection_reasons(right) == [] and right.well_formed and right.correct
    wrong = dict(labels, **{key: (labels[key] + 1) % 3})
    episode = record_texts(env, [_final(wrong)], pair_index=4)
    assert rejection_reasons(episode) == [f"wrong {key}"]


def test_malformed_and_unfinished_traces_are_rejected(make_env: Any) -> None:
    env = make_env(dataset_kwargs={"n": 12})
    labels = dict(env.unwrapped.dataset[0].labels)
    sloppy = record_texts(env, ["I think video 1.", _final(labels)], pair_index=0)
    assert rejection_reasons(sloppy) == ["malformed turn"]
    unfinished = record_texts(env, ["no tags"] * 3, pair_index=0)
    assert "unfinished" in rejection_reasons(unfinished)


def test_scanner_traces_are_kept_reported_and_replay(tmp_path: Path) -> None:
    report = build_traces("scanner", ENV, out_dir=tmp_path, limit=6, progress=False)
    assert report.episodes == 6 and report.kept >= 3
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["kept"] == report.kept and set(data) >= {"rejected", "wrong_by_dimension", "kept_rate"}
    kept, rejected = load_jsonl(tmp_path / "traces.jsonl"), load_jsonl(tmp_path / "rejected" / "episodes.jsonl")
    assert len(kept.episodes) == report.kept and len(rejected.episodes) == 6 - report.kept
    assert all(e.meta["rejected"] for e in rejected.episodes)
    assert load_jsonl(tmp_path).files == [str(tmp_path / "traces.jsonl")]  # a folder means its traces only
    episode = kept.episodes[0]
    assert episode.env["frames_per_video"] == 16 and episode.tool_calls == 2 and episode.correct
    # Real reasoning: which frames were seen and what was found in them.
    first = episode.turns[0].text
    assert "New frames 3, 7, 11, 15 (video 1) and 19, 23, 27, 31 (video 2)" in first, first
    assert "Seen 8 of 32 frames" in first
    replayer = Replayer()
    replayed = replayer.replay(episode)
    assert [t.has_context for t in replayed.turns] == [True, True, True]
    assert [len(t.frames) for t in replayed.turns] == [8, 16, 16]
    # A record the env no longer agrees with is refused, naming the episode.
    tampered = replace(episode, turns=[replace(episode.turns[0], reward=5.0), *episode.turns[1:]])
    with pytest.raises(ReplayError, match="turn 0"):
        replayer.replay(tampered)
    replayer.close()


def test_bad_trace_lines_are_skipped_and_counted(tmp_path: Path, make_env: Any) -> None:
    env = make_env(dataset_kwargs={"n": 12})
    good = record_texts(env, [_final(dict(env.unwrapped.dataset[1].labels))], pair_index=1)
    path = save_jsonl([good], tmp_path / "traces.jsonl")
    with path.open("a") as handle:
        handle.write('{"episode": 3, "truncated json\n')
        handle.write('["a list"]\n')
        handle.write(json.dumps({"episode": 1}) + "\n")
    save_jsonl([good], path, append=True)
    loaded = load_jsonl(tmp_path)
    assert len(loaded.episodes) == 2 and len(loaded.problems) == 3
    assert f"{path}:2: not JSON" in loaded.problems[0] and ":3: not an episode record" in loaded.problems[1]
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_jsonl(tmp_path / "nowhere")


def test_a_trace_whose_video_is_gone_is_skipped_naming_the_file(tmp_path: Path) -> None:
    from agents.train.sft import load_and_replay
    from vr_env.data.base import PairDataset, load_dataset
    from vr_env.data.records import VideoRef

    records = list(load_dataset("synthetic", n=3))
    dataset = PairDataset(records, name="traces-then-gone")
    env = make_env_for(dataset)
    episodes = [record_texts(env, [_final(dict(records[i].labels))], pair_index=i, episode=i) for i in range(3)]
    env.close()
    records[1] = replace(records[1], video_2=VideoRef(str(tmp_path / "deleted.mp4")))
    path = save_jsonl(episodes, tmp_path / "traces.jsonl")
    replayed, problems = load_and_replay(path, dataset=PairDataset(records, name="traces-then-gone"))
    assert [e.pair_index for e in replayed] == [0, 2]
    assert len(problems) == 1 and "deleted.mp4" in problems[0] and "pair 1" in problems[0]


def make_env_for(dataset: Any) -> Any:
    from vr_env.env import VRJudgeEnv

    return VRJudgeEnv(dataset=dataset, frames_per_video=16, max_tool_calls=2)


def test_a_failing_teacher_keeps_the_finished_episodes(tmp_path: Path) -> None:
    from agents.backends.base import BackendUnavailableError
    from agents.baselines import ScannerAgent

    class FlakyTeacher(ScannerAgent):
        episodes = 0

        def reset(self, seed: int | None = None) -> None:
            super().reset(seed)
            FlakyTeacher.episodes += 1
            if FlakyTeacher.episodes > 3:
                raise BackendUnavailableError("http://127.0.0.1:9/v1/chat/completions answered HTTP 503: overloaded")

    report = build_traces(FlakyTeacher(), ENV, out_dir=tmp_path, limit=6, progress=False)
    assert report.teacher_error is not None and "HTTP 503" in report.teacher_error
    assert report.episodes == 3 and "teacher stopped with an error" in (tmp_path / "report.md").read_text()
