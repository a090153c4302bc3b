"""MJ-Bench-Video test.json: label mapping on the real file, missing videos, and malformed items."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from vr_env.data.base import DatasetError, load_dataset
from vr_env.data.problems import BAD_LABEL, BAD_VALUE, MISSING_FIELD, MISSING_VIDEO
from vr_env.data.validate import validate_dataset


def item(i: int, overall: str = "Video 1 better", **categories: str) -> dict[str, object]:
    prefs = {"Alignment": "Same", "Safety": "Same", "Fineness": "Video 2 better",
             "Coherence & Consistency": "Hard to judge", "Bias": "Same", **categories}  # fmt: skip
    return {"caption": f"caption {i}", "video_0_path": f"test/{i}_0.mp4", "video_1_path": f"test/{i}_1.mp4",
            "category_preference": prefs, "overall_preference": overall, "discard": False}  # fmt: skip


@pytest.fixture(scope="module")
def real(mjbench_root: Path) -> object:
    return load_dataset("mjbench-video", mjbench_root)


def test_real_file_label_counts(real, mjbench_root: Path) -> None:
    assert len(real) == 1085 and real.problems == []
    # overall_preference: Same 959 + Hard to judge 8 -> 0; Video 1 better 66 + Video 1 Better 6 -> 1; Video 2 better 46 -> 2
    assert Counter(r.labels["OA"] for r in real) == {0: 959 + 8, 1: 66 + 6, 2: 46}
    assert Counter(r.labels["TA"] for r in real) == {0: 914 + 6, 1: 93 + 6, 2: 66}  # Alignment
    assert Counter(r.labels["VQ"] for r in real) == {0: 1002 + 7, 1: 28 + 6, 2: 42}  # Fineness
    assert Counter(r.labels["MQ"] for r in real) == {0: 936 + 3, 1: 74 + 6, 2: 66}  # Coherence & Consistency
    first = real[0]
    assert first.pair_id == "mjbench-video/0"
    assert first.video_1.path == str(mjbench_root.resolve() / "test" / "0_0.mp4")
    assert first.video_2.path == str(mjbench_root.resolve() / "test" / "0_1.mp4")
    assert [(d.key, d.name) for d in first.dimensions] == [
        ("TA", "Alignment"),
        ("VQ", "Fineness"),
        ("MQ", "Coherence & Consistency"),
    ]
    assert first.meta["category_preference"]["Safety"] == "Same"


def test_real_file_missing_videos_are_reported(real, mjbench_root: Path) -> None:
    report = validate_dataset(real, data_root=mjbench_root)
    assert report.counts == {MISSING_VIDEO: 2170}
    assert any("test does not exist" in hint for hint in report.hints)
    assert str(report.problems[0]).startswith(
        f"{mjbench_root.resolve() / 'test.json'}, row 1: missing video: video_1 not found"
    )
    assert "mjbench-video" in report.summary() and "missing video: 2170" in report.summary()


def test_videos_folder_fallback_discard_and_bad_items(tmp_path: Path) -> None:
    (tmp_path / "videos" / "test").mkdir(parents=True)
    for name in ("0_0.mp4", "0_1.mp4"):
        (tmp_path / "videos" / "test" / name).write_bytes(b"x")
    items = [
        item(0, "Video 1 Better", Alignment="Video 2 better"),
        {**item(1), "discard": True},
        item(2, "Video 3 better"),
        {**item(3), "category_preference": "Same"},
        {k: v for k, v in item(4).items() if k != "caption"},
        item(5, Fineness="Much better"),
    ]
    (tmp_path / "test.json").write_text(json.dumps(items))
    dataset = load_dataset("mjbench-video", tmp_path)
    assert len(dataset) == 1
    assert dict(dataset[0].labels) == {"TA": 2, "VQ": 2, "MQ": 0, "OA": 1}
    assert dataset[0].video_1.path == str(tmp_path.resolve() / "videos" / "test" / "0_0.mp4")
    assert [(p.kind, p.row) for p in dataset.problems] == [
        (BAD_LABEL, 3),
        (BAD_VALUE, 4),
        (MISSING_FIELD, 5),
        (BAD_LABEL, 6),
    ]
    assert len(load_dataset("mjbench-video", tmp_path, include_discarded=True)) == 2
    with pytest.raises(DatasetError, match="row 3: bad label: overall_preference"):
        load_dataset("mjbench-video", tmp_path, strict=True)


def test_not_a_list_is_a_dataset_error(tmp_path: Path) -> None:
    (tmp_path / "test.json").write_text('{"caption": "x"}')
    with pytest.raises(DatasetError, match="expected a JSON list"):
        load_dataset("mjbench-video", tmp_path)
