"""validate_dataset and the ``vr-env validate-data`` command."""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from vr_env.commands import validate_data
from vr_env.data.base import PairDataset
from vr_env.data.problems import (
    BAD_DIMENSIONS,
    BAD_ROW,
    DUPLICATE_ID,
    EMPTY_PROMPT,
    EMPTY_VIDEO,
    MISSING_VIDEO,
    NO_PAIRS,
    NOT_A_FILE,
    OUTSIDE_ROOT,
    UNREADABLE_VIDEO,
    Problem,
)
from vr_env.data.records import Dimension, PairRecord, VideoRef
from vr_env.data.validate import validate_dataset


class Clip:
    num_frames, fps, height, width = 4, 8.0, 8, 8

    def render(self, frame_indices: np.ndarray) -> np.ndarray:
        return np.zeros((len(frame_indices), 8, 8, 3), np.uint8)


def record(pair_id: str, v1: Path | str, v2: Path | str, prompt: str = "p", **kw: object) -> PairRecord:
    return PairRecord(pair_id, prompt, VideoRef(str(v1)), VideoRef(str(v2)), {"OA": 1}, **kw)  # type: ignore[arg-type]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "ok.mp4").write_bytes(b"x")
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "folder.mp4").mkdir()
    return tmp_path


def test_every_problem_is_reported_with_counts(root: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "x.mp4"
    elsewhere.write_bytes(b"x")
    dataset = PairDataset(
        [
            record("a", root / "ok.mp4", root / "empty.mp4"),
            record("b", root / "folder.mp4", root / "gone" / "missing.mp4", prompt=" "),
            record("a", root / "ok.mp4", elsewhere),
            record("c", root / "ok.mp4", root / "ok.mp4", dimensions=(Dimension("TA", "t", "e"),)),
            PairRecord("s", "p", VideoRef("synthetic:a", clip=Clip()), VideoRef("synthetic:b", clip=Clip()), {}),
        ],
        problems=["legacy plain-string problem"],
        name="hand-made",
    )
    report = validate_dataset(dataset, data_root=root)
    assert report.counts == {
        BAD_ROW: 1, EMPTY_PROMPT: 1, DUPLICATE_ID: 1, BAD_DIMENSIONS: 1,
        EMPTY_VIDEO: 1, NOT_A_FILE: 1, MISSING_VIDEO: 1, OUTSIDE_ROOT: 1,
    }  # fmt: skip
    assert report.pairs == 5 and report.videos == 5 and report.skipped_rows == 1
    assert report.bad_pairs == 3  # a (both copies), b, c
    assert any("gone does not exist" in h for h in report.hints)
    rows_only = validate_dataset(dataset, check_videos=False)
    assert set(rows_only.counts) == {BAD_ROW, EMPTY_PROMPT, DUPLICATE_ID, BAD_DIMENSIONS}
    data = json.loads(report.to_json())
    assert data["problem_count"] == 8 and data["counts"][MISSING_VIDEO] == 1
    assert validate_dataset(PairDataset([])).counts == {NO_PAIRS: 1}


def test_problem_is_a_string_that_keeps_its_parts() -> None:
    problem = Problem(MISSING_VIDEO, "video_1 not found: /x.mp4", file="/d/a.csv", row=3, line=4, pair_id="p3")
    assert problem == "/d/a.csv, row 3 (line 4): missing video: video_1 not found: /x.mp4"
    copy = pickle.loads(pickle.dumps(problem))
    assert copy == problem and (copy.kind, copy.row, copy.pair_id) == (MISSING_VIDEO, 3, "p3")
    assert Problem(EMPTY_PROMPT, "empty", pair_id="p") == "pair p: empty prompt: empty"


def test_decode_uses_the_video_layer_and_reports_video_errors(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class VideoError(Exception):
        pass

    class FrameSource:
        def num_frames(self, ref: VideoRef) -> int:
            if ref.path.endswith("bad.mp4"):
                raise VideoError(f"{ref.path}: not a video")
            return 10

    fake = types.ModuleType("vr_env.video")
    fake.FrameSource, fake.VideoError = FrameSource, VideoError  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "vr_env.video", fake)
    (root / "bad.mp4").write_bytes(b"garbage")
    report = validate_dataset(PairDataset([record("a", root / "ok.mp4", root / "bad.mp4")]), decode=True)
    assert report.decoded and report.counts == {UNREADABLE_VIDEO: 1}
    assert "not a video" in report.problems[0]


def test_decode_real_example_videos(shared_data: Path) -> None:
    from vr_env.data.base import load_dataset

    report = validate_dataset(load_dataset("videogen-reward", shared_data / "videogen-reward-example"), decode=True)
    assert report.ok, report.summary()


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    validate_data.add_arguments(parser)
    return validate_data.run(parser.parse_args(list(argv)))


def test_cli_exit_codes(capsys: pytest.CaptureFixture[str], tmp_path: Path, shared_data: Path) -> None:
    assert run_cli("--dataset", "videogen-reward", "--data-root", str(shared_data / "videogen-reward-example")) == 0
    assert "OK" in capsys.readouterr().out

    assert (
        run_cli("--dataset", "mjbench-video", "--data-root", str(shared_data / "mj-bench-video"), "--max-listed", "2")
        == 1
    )
    out = capsys.readouterr().out
    assert "missing video: 2170" in out and "and 2168 more" in out

    assert run_cli("--dataset", "genai-bench", "--data-root", str(shared_data / "genai-bench-video"), "--json") == 1
    data = json.loads(capsys.readouterr().out)
    assert data["counts"] == {MISSING_VIDEO: 3778} and len(data["problems"]) == 3778

    assert run_cli("--dataset", "genai-bench", "--data-root", str(tmp_path / "absent")) == 2
    assert "does not exist" in capsys.readouterr().err
    assert run_cli("--dataset", "no-such-dataset") == 2
    assert "unknown dataset" in capsys.readouterr().err
    assert run_cli("--dataset", "mjbench-video", "--data-root", str(shared_data / "mj-bench-video"), "--no-videos") == 0


def test_cli_is_wired_into_vr_env_main(capsys: pytest.CaptureFixture[str], shared_data: Path) -> None:
    from vr_env import cli

    root = str(shared_data / "videogen-reward-example")
    assert cli.main(["validate-data", "--dataset", "videogen-reward", "--data-root", root]) == 0
    assert cli.main(["validate-data", "--dataset", "videogen-rewardbench", "--data-root", root]) == 2
    capsys.readouterr()
