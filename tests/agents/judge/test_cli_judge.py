"""``vr-env score-pairs`` end to end on a tiny model (scripted answers) and the ``serve`` parser."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from vr_env.cli import build_parser, main


def test_score_pairs_writes_dpo_rows(tiny_model_dir: Path, tmp_path: Path, capsys: object) -> None:
    from vr_env.video.writer import write_mp4

    for n in range(3):
        write_mp4(tmp_path / f"clip{n}.mp4", np.full((6, 32, 32, 3), 40 * n, np.uint8), fps=8)
    rows = [
        {"prompt": "a kite", "videos": ["clip0.mp4", "clip1.mp4", "clip2.mp4"], "ids": ["a", "b", "c"]},
        {"prompt": "broken row"},
        {"prompt": "a bird", "videos": ["clip1.mp4", "missing.mp4"]},
    ]
    source = tmp_path / "groups.jsonl"
    source.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out, scores = tmp_path / "pairs.jsonl", tmp_path / "scores.jsonl"
    code = main(
        [
            "score-pairs", "--model", str(tiny_model_dir), "--device", "cpu", "--input", str(source),
            "--out", str(out), "--scores-out", str(scores), "--max-new-tokens", "8",
            "--env-arg", "frames_per_video=16", "--demo-answer", "TA=1, VQ=1, MQ=1, OA=1",
        ]
    )  # fmt: skip
    assert code == 0
    pairs = [json.loads(line) for line in out.read_text().splitlines()]
    # OA=1 always: the first video of each comparison wins; orders are balanced, so no video gains.
    assert [(p["chosen"], p["rejected"]) for p in pairs] == [("a", "b"), ("b", "c"), ("c", "a")]
    assert all(p["prompt"] == "a kite" and 0.0 <= p["probability"] <= 1.0 for p in pairs)
    groups = [json.loads(line) for line in scores.read_text().splitlines()]
    assert groups[0]["scores"] == [0.5, 0.5, 0.5] and groups[0]["first_position_share"] == 1.0
    assert groups[1]["scores"] == [None, None] and "missing.mp4" in groups[1]["unscorable"]["0"][0]
    assert "first-position share 1.00" in capsys.readouterr().out  # type: ignore[attr-defined]
    both = tmp_path / "both.jsonl"
    code = main(
        [
            "score-pairs", "--model", str(tiny_model_dir), "--device", "cpu", "--input", str(source),
            "--out", str(both), "--max-new-tokens", "8", "--both-orders",
            "--env-arg", "frames_per_video=16", "--demo-answer", "TA=1, VQ=1, MQ=1, OA=1",
        ]
    )  # fmt: skip
    assert code == 0 and both.read_text() == ""  # a preference for a position alone gives no DPO pair


def test_serve_flags_come_from_the_configs() -> None:
    args = build_parser().parse_args(
        ["serve", "--model", "m", "--port", "9001", "--max-queue", "7", "--both-orders", "--video-root", "/data"]
    )
    assert (args.host, args.port, args.max_queue, args.both_orders, args.video_root) == (
        "127.0.0.1",
        9001,
        7,
        True,
        "/data",
    )


def test_serve_without_the_web_stack_says_how_to_install(monkeypatch: object, capsys: object) -> None:
    import importlib.util

    import pytest

    real = importlib.util.find_spec
    mp: pytest.MonkeyPatch = monkeypatch  # type: ignore[assignment]
    mp.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "fastapi" else real(name, *a))
    assert main(["serve", "--model", "unused"]) == 2
    err = capsys.readouterr().err  # type: ignore[attr-defined]
    assert "needs the serve extra (module 'fastapi' is not installed)" in err and ".[train,serve]" in err
