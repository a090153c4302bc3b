"""Metrics on hand-made result rows: tau, diff, per-dimension, swap consistency, length buckets, references."""

from __future__ import annotations

from typing import Any

import pytest

from vr_env.eval.metrics import compute_metrics, length_buckets, reference_rows
from vr_env.eval.report import render_report, write_report


def row(
    index: int,
    labels: dict[str, int | None],
    answer: dict[str, int] | None,
    *,
    swapped: bool = False,
    tool_calls: int = 0,
    duration: float | None = 4.0,
    num_frames: int | None = 96,
    status: str = "ok",
) -> dict[str, Any]:
    video = {"duration": duration, "num_frames": num_frames, "fps": None, "path": "x", "model": None}
    return {
        "pair_index": index,
        "pair_id": f"p{index}",
        "swapped": swapped,
        "status": status,
        "reason": None if status == "ok" else "VideoError: video 'x': file not found",
        "labels": labels,
        "final_answer": answer,
        "tool_calls": tool_calls,
        "frames_fetched": 8 * tool_calls,
        "invalid_turns": 0,
        "turns": tool_calls + 1,
        "truncated": False,
        "reward_components": {"format": 1.0, "return": 2.0},
        "video_1": video,
        "video_2": video,
    }


def full(oa: int, ta: int = 1, vq: int = 1, mq: int = 1) -> dict[str, int]:
    return {"TA": ta, "VQ": vq, "MQ": mq, "OA": oa}


@pytest.fixture
def rows() -> list[dict[str, Any]]:
    return [
        row(0, full(1), full(1)),  # right
        row(1, full(2), full(1, 1, 1, 1)),  # wrong
        row(2, full(0, 0, 0, 0), full(0, 0, 1, 0)),  # right (tie), VQ wrong
        row(3, full(0), full(2)),  # wrong
        row(4, full(2, 2, 2, 2), full(2, 2, 2, 2), tool_calls=2),  # right
        row(5, full(1), None),  # no answer: wrong
        row(6, full(1), full(1), status="skipped"),  # not counted
    ]


def test_tau_diff_and_dimensions(rows: list[dict[str, Any]]) -> None:
    m = compute_metrics(rows)
    assert m["n"] == 6 and m["skipped"] == 1 and m["skipped_pairs"][0]["pair_index"] == 6
    assert m["tau"] == pytest.approx(3 / 6)  # pairs 0, 2, 4
    assert m["diff"] == pytest.approx(2 / 4)  # non-tie pairs 0, 1, 4, 5: right on 0 and 4
    # TA labels: 1,1,0,1,2,1 answers: 1,1,0,1,2,None -> 5/6; VQ: pair 2 answered 1 for a tie -> 4/6
    assert m["per_dimension"] == pytest.approx({"TA": 5 / 6, "VQ": 4 / 6, "MQ": 5 / 6})
    assert m["no_answer_rate"] == pytest.approx(1 / 6)
    assert m["tool_calls_mean"] == pytest.approx(2 / 6) and m["frames_fetched_mean"] == pytest.approx(16 / 6)
    assert m["by_tool_calls"]["2"] == {"n": 1, "tau": 1.0, "diff": 1.0}
    assert m["oa_confusion"]["video 1"] == {"video 1": 1, "video 2": 0, "tie": 0, "none": 1}
    assert m["swap_consistency"] is None


def test_unlabelled_dimensions_are_left_out() -> None:
    rows = [row(0, {"OA": 1}, full(1)), row(1, {"OA": 0}, full(0))]
    m = compute_metrics(rows)
    assert m["tau"] == 1.0 and m["diff"] == 1.0
    assert m["per_dimension"] == {"TA": None, "VQ": None, "MQ": None} and m["per_dimension_n"]["TA"] == 0


def test_reference_rows_on_the_same_labels(rows: list[dict[str, Any]]) -> None:
    ok = [r for r in rows if r["status"] == "ok"]
    ref = reference_rows(ok)
    # OA labels: 1, 2, 0, 0, 2, 1
    assert ref["always-video-1"]["tau"] == pytest.approx(2 / 6) and ref["always-video-1"]["diff"] == pytest.approx(
        2 / 4
    )
    assert ref["always-tie"]["tau"] == pytest.approx(2 / 6) and ref["always-tie"]["diff"] == 0.0
    assert ref["random-3way"]["tau"] == pytest.approx(1 / 3) and ref["random-3way"]["diff"] == pytest.approx(1 / 3)
    assert ref["random-2way"]["tau"] == pytest.approx(0.5 * 4 / 6) and ref["random-2way"]["diff"] == 0.5
    assert ref["always-tie"]["per_dimension"]["TA"] == pytest.approx(1 / 6)
    assert "expected" in ref["random-3way"]["note"]


def test_swap_consistency_compares_mirrored_verdicts() -> None:
    rows = [
        row(0, full(1), full(1)),
        row(0, full(2), full(2, 2, 2, 2), swapped=True),  # mirrored: consistent
        row(1, full(1), full(0, 0, 0, 0)),
        row(1, full(2), full(0, 0, 0, 0), swapped=True),  # tie stays tie: consistent
        row(2, full(1), full(1)),
        row(2, full(2), full(1, 2, 2, 2), swapped=True),  # OA answered 1 both times: position bias
        row(3, full(1), full(1)),  # its swapped twin was skipped
        row(3, full(2), None, swapped=True, status="skipped"),
    ]
    m = compute_metrics(rows, swap_check=True)
    assert m["n"] == 4 and m["swap_pairs"] == 3
    assert m["swap_consistency"] == pytest.approx(2 / 3)
    assert m["swap_consistency_all_keys"] == pytest.approx(2 / 3)
    assert m["tau_swapped"] == pytest.approx(1 / 3)


def test_length_terciles_and_longest_tenth() -> None:
    rows = [row(i, full(1), full(1 if i < 6 else 2), duration=float(i + 1)) for i in range(9)]
    result = length_buckets(rows)
    assert result["unit"] == "s" and result["unmeasured"] == 0
    short, medium, long, longest = result["buckets"]
    assert [b["n"] for b in (short, medium, long)] == [3, 3, 3]
    assert short["label"].startswith("short") and long["label"].startswith("long")
    assert short["tau"] == 1.0 and long["tau"] == 0.0
    assert longest["label"].startswith("longest 10%") and longest["n"] == 1


def test_length_falls_back_to_frames_and_single_bucket() -> None:
    frames_only = [row(i, full(1), full(1), duration=None, num_frames=10 * (i + 1)) for i in range(3)]
    assert length_buckets(frames_only)["unit"] == "frames"
    same = [row(i, full(1), full(1)) for i in range(4)]
    buckets = length_buckets(same)["buckets"]
    assert len(buckets) == 1 and buckets[0]["label"] == "all (4 s)" and buckets[0]["n"] == 4
    unknown = [row(0, full(1), full(1), duration=None, num_frames=None)]
    assert length_buckets(unknown) == {"unit": None, "unmeasured": 1, "buckets": []}


def test_report_and_plots(rows: list[dict[str, Any]], tmp_path) -> None:
    m = {"agent": "test-agent", "dataset": "hand-made", **compute_metrics(rows)}
    text = render_report(m)
    for fragment in (
        "| **test-agent** | 50.0 | 50.0 |",
        "always-video-1",
        "always-tie",
        "random-3way",
        "## By video length",
        "## Skipped (1)",
        "file not found",
    ):
        assert fragment in text
    (tmp_path / "accuracy_by_length.png").write_bytes(b"stale")  # from an earlier run
    path = write_report(m, tmp_path)
    assert path.read_text().count("![") == 2  # every video has the same length: no by-length plot
    for name in ("per_dimension.png", "accuracy_vs_tool_calls.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (tmp_path / "accuracy_by_length.png").exists()
