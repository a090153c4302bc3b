"""``vr-env eval`` end to end on the synthetic benchmark, and ``vr-env play`` with scripted input."""

from __future__ import annotations

import builtins
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from vr_env import cli


def scripted_input(monkeypatch: pytest.MonkeyPatch, lines: list[str]) -> list[str]:
    prompts: list[str] = []
    feed: Iterator[str] = iter(lines)

    def fake_input(prompt: str = "") -> str:
        prompts.append(prompt)
        try:
            return next(feed)
        except StopIteration:
            raise EOFError from None

    monkeypatch.setattr(builtins, "input", fake_input)
    return prompts


def test_eval_writes_every_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    argv = [
        "eval",
        "--agent",
        "scanner",
        "--dataset",
        "synthetic",
        "--dataset-arg",
        "n=8",
        "--limit",
        "6",
        "--swap-check",
        "--num-envs",
        "2",
        "--seed",
        "1",
        "--out",
        str(out),
        "--no-progress",
    ]
    assert cli.main(argv) == 0
    assert "scanner on synthetic: n=6, tau" in capsys.readouterr().out
    names = {p.name for p in out.iterdir()}
    assert {
        "results.jsonl",
        "metrics.json",
        "report.md",
        "config.json",
        "per_dimension.png",
    } <= names
    # the scanner always makes the same number of tool calls and the clips have one length:
    # single-bar plots are not written (issue 8)
    assert "accuracy_vs_tool_calls.png" not in names and "accuracy_by_length.png" not in names
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert len(rows) == 12 and sum(r["swapped"] for r in rows) == 6
    first = rows[0]
    for key in (
        "pair_id",
        "pair_index",
        "swapped",
        "labels",
        "final_answer",
        "reward_components",
        "tool_calls",
        "frames_fetched",
        "invalid_turns",
        "turns",
        "truncated",
        "video_1",
        "video_2",
    ):
        assert key in first
    assert first["video_1"]["duration"] == 4.0 and first["video_1"]["num_frames"] == 96
    metrics = json.loads((out / "metrics.json").read_text())
    for key in (
        "n",
        "tau",
        "diff",
        "per_dimension",
        "swap_consistency",
        "tool_calls_mean",
        "frames_fetched_mean",
        "invalid_turn_rate",
        "skipped",
        "by_length",
        "reference",
    ):
        assert key in metrics
    assert metrics["n"] == 6 and metrics["swap_consistency"] is not None and metrics["skipped"] == 0
    config = json.loads((out / "config.json").read_text())
    assert config["args"]["limit"] == 6 and config["env"]["frames_per_video"] == 48 and config["seed"] == 1
    report = (out / "report.md").read_text()
    assert "always-video-1" in report and "always-tie" in report and "random-3way" in report
    # A rerun resumes: nothing left to play, same metrics.
    assert cli.main(argv) == 0
    assert json.loads((out / "metrics.json").read_text()) == metrics
    assert len((out / "results.jsonl").read_text().splitlines()) == 12


def test_eval_reports_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["eval", "--agent", "nope", "--out", str(tmp_path), "--no-progress"]) == 2
    assert "unknown agent" in capsys.readouterr().err
    assert cli.main(["eval", "--agent", "hf", "--out", str(tmp_path), "--no-progress"]) == 2
    assert "--model" in capsys.readouterr().err
    assert cli.main(["eval", "--agent", "random", "--dataset", "nope", "--out", str(tmp_path)]) == 2
    assert "unknown dataset" in capsys.readouterr().err


def test_play_with_scripted_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    prompts = scripted_input(
        monkeypatch,
        [
            "help",
            "1 2 17 18 TA=1 VQ=1 MQ=0 OA=1 CF=2",
            "TA=1 VQ=2",
            "99",
            "TA=2 VQ=0 MQ=0 OA=2 # V1 turns purple near the end",
        ],
    )
    argv = [
        "play",
        "--dataset-arg",
        "n=2",
        "--env-arg",
        "frames_per_video=16",
        "--pair-index",
        "0",
        "--out",
        str(tmp_path),
    ]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "Text prompt:" in out and "Tool result 1: here are the selected frames 1, 2, 17, 18" in out
    assert "missing MQ, OA" in out and "numbered 1-32" in out
    assert "labels:       TA=2, VQ=0, MQ=0, OA=2" in out and "your answer:  TA=2, VQ=0, MQ=0, OA=2" in out
    assert "reward 2." in out and "tool calls 1, frames fetched 4" in out
    assert len(prompts) == 5
    assert (tmp_path / "episode001_turn1.png").exists() and (tmp_path / "episode001_turn2.png").exists()
    assert (tmp_path / "episode.png").exists() and str(tmp_path / "episode001_turn2.png") in out


def test_play_quits_on_end_of_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    scripted_input(monkeypatch, [])
    assert cli.main(["play", "--dataset-arg", "n=2", "--out", str(tmp_path)]) == 1
    assert "no answer scored" in capsys.readouterr().out


def test_eval_on_real_files_skips_missing_and_corrupt_videos(tmp_path: Path) -> None:
    import numpy as np

    from vr_env.video.writer import write_mp4

    root = tmp_path / "data"
    (root / "videos").mkdir(parents=True)
    ramp = np.linspace(0, 255, 16).astype(np.uint8)
    write_mp4(root / "videos" / "a.mp4", np.broadcast_to(ramp[:, None, None, None], (16, 56, 56, 3)), 8.0)
    write_mp4(root / "videos" / "b.mp4", np.broadcast_to(ramp[::-1, None, None, None], (16, 56, 56, 3)), 8.0)
    (root / "videos" / "text.mp4").write_text("this is not a video")
    rows = [
        ("a cat", "videos/a.mp4", "videos/b.mp4", "A"),
        ("a dog", "videos/a.mp4", "videos/missing.mp4", "B"),
        ("a cow", "videos/text.mp4", "videos/b.mp4", "same"),
    ]
    (root / "pairs.csv").write_text("prompt,video_1,video_2,OA\n" + "".join(",".join(r) + "\n" for r in rows))
    out = tmp_path / "run"
    argv = [
        "eval",
        "--agent",
        "answer-now",
        "--dataset",
        "generic",
        "--data-root",
        str(root),
        "--env-arg",
        "frames_per_video=8",
        "--out",
        str(out),
        "--no-progress",
        "--no-plots",
    ]
    assert cli.main(argv) == 0
    results = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    status = {r["pair_index"]: (r["status"], r["reason"]) for r in results}
    assert status[0] == ("ok", None)
    assert status[1][0] == "skipped" and "missing.mp4" in status[1][1] and "not found" in status[1][1]
    assert status[2][0] == "skipped" and "text.mp4" in status[2][1] and "not a video" in status[2][1]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n"] == 1 and metrics["skipped"] == 2 and metrics["per_dimension"]["TA"] is None
    assert results[0]["video_1"]["num_frames"] == 16  # read from the file when the row does not say


def test_eval_shards_and_merge_shards(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    argv = ["eval", "--agent", "random", "--dataset-arg", "n=6", "--env-arg", "frames_per_video=16", "--no-progress"]
    argv += ["--no-plots", "--out", str(out)]
    assert cli.main([*argv, "--shard", "0/2"]) == 0
    assert "wrote shard 0-of-2" in capsys.readouterr().out
    assert cli.main(["merge-shards", str(out)]) == 2
    assert "shard folder(s) 1-of-2 missing" in capsys.readouterr().err
    assert cli.main([*argv, "--shard", "1/2"]) == 0
    assert f"vr-env merge-shards {out}" in capsys.readouterr().out
    assert cli.main(["merge-shards", str(out), "--no-plots"]) == 0
    assert "random on synthetic: n=6" in capsys.readouterr().out
    single = tmp_path / "single"
    assert cli.main([*argv[:-1], str(single)]) == 0
    assert json.loads((out / "metrics.json").read_text()) == json.loads((single / "metrics.json").read_text())
    config = json.loads((out / "shards" / "1-of-2" / "config.json").read_text())
    assert config["shard"] == {"index": 1, "count": 2} and config["args"]["shard"] == "1/2"
    with pytest.raises(SystemExit):
        cli.main([*argv, "--shard", "2/2"])
    assert "0 <= I < N" in capsys.readouterr().err
