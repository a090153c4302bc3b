"""VideoGen-Reward training CSV and VideoGen-RewardBench loaders, on the real example and on small files."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from vr_env.data.base import DatasetError, load_dataset
from vr_env.data.problems import BAD_LABEL, BAD_ROW, BAD_VALUE, EMPTY_PROMPT, MISSING_FIELD
from vr_env.data.validate import validate_dataset

BENCH_HEADER = ["path_A", "path_B", "A_model", "B_model", "prompt", "VQ", "MQ", "TA", "Overall",
                "fps_A", "num_frames_A", "fps_B", "num_frames_B"]  # fmt: skip


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def make_videos(root: Path, *names: str) -> None:
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"not really a video")


def bench_row(i: int, **changes: object) -> list[object]:
    row = {"path_A": f"videos/{i}_a.mp4", "path_B": f"./videos/{i}_b.mp4", "A_model": "m1", "B_model": "m2",
           "prompt": f"prompt {i}", "VQ": "A", "MQ": "B", "TA": "same", "Overall": "B",
           "fps_A": "24.0", "num_frames_A": "49.0", "fps_B": "8", "num_frames_B": "16"}  # fmt: skip
    row.update(changes)
    return [row[c] for c in BENCH_HEADER]


def test_real_example_loads_two_pairs_with_labels_and_paths(videogen_example: Path) -> None:
    dataset = load_dataset("videogen-reward", videogen_example)
    assert dataset.name == "videogen-reward"
    assert len(dataset) == 2 and dataset.problems == []
    first, second = dataset
    assert dict(first.labels) == {"TA": 1, "VQ": 2, "MQ": 2, "OA": None}
    assert dict(second.labels) == {"TA": 1, "VQ": 0, "MQ": 0, "OA": None}
    assert first.video_1.path == str(videogen_example.resolve() / "videos" / "example_1_A.mp4")
    assert first.video_2.path == str(videogen_example.resolve() / "videos" / "example_1_B.mp4")  # "./videos/..." style
    for record in dataset:
        for ref in (record.video_1, record.video_2):
            assert Path(ref.path).is_absolute() and Path(ref.path).is_file()
    assert (first.video_1.fps, first.video_1.num_frames, first.video_2.fps, first.video_2.num_frames) == (
        24.0,
        126,
        30.0,
        152,
    )
    assert first.prompt.startswith("The camera remains still")
    assert [d.name for d in first.dimensions] == ["Text Alignment", "Visual Quality", "Motion Quality"]
    assert first.meta["source_row"] == 1 and first.meta["source_file"].endswith("example.csv")
    assert validate_dataset(dataset, data_root=videogen_example).ok


def test_training_csv_is_found_by_name_or_csv_kwarg(tmp_path: Path) -> None:
    make_videos(tmp_path, "videos/0_a.mp4", "videos/0_b.mp4")
    header = [c for c in BENCH_HEADER if c not in ("A_model", "B_model", "Overall")]
    rows = [[v for c, v in zip(BENCH_HEADER, bench_row(0), strict=True) if c in header]]
    write_csv(tmp_path / "train.csv", header, rows)
    write_csv(tmp_path / "other.csv", header, rows)
    assert len(load_dataset("videogen-reward", tmp_path)) == 1  # train.csv wins over a second *.csv
    assert len(load_dataset("videogen-reward", tmp_path, csv="other.csv")) == 1
    (tmp_path / "train.csv").unlink()
    assert len(load_dataset("videogen-reward", tmp_path)) == 1  # the only *.csv
    write_csv(tmp_path / "third.csv", header, rows)
    with pytest.raises(DatasetError, match="several label files"):
        load_dataset("videogen-reward", tmp_path)


def test_rewardbench_models_overall_and_csv_kwarg(tmp_path: Path) -> None:
    make_videos(tmp_path, "videos/0_a.mp4", "videos/0_b.mp4", "videos/1_a.mp4", "videos/1_b.mp4")
    write_csv(tmp_path / "videogen-rewardbench.csv", BENCH_HEADER, [bench_row(0), bench_row(1, Overall="same")])
    dataset = load_dataset("videogen-rewardbench", tmp_path)
    assert [dict(r.labels) for r in dataset] == [
        {"TA": 0, "VQ": 1, "MQ": 2, "OA": 2},
        {"TA": 0, "VQ": 1, "MQ": 2, "OA": 0},
    ]
    record = dataset[0]
    assert (record.video_1.model, record.video_2.model) == ("m1", "m2")
    assert record.meta["models"] == ("m1", "m2")
    assert (record.video_1.num_frames, record.video_2.fps) == (49, 8.0)
    assert validate_dataset(dataset, data_root=tmp_path).ok

    write_csv(tmp_path / "subset.csv", BENCH_HEADER, [bench_row(1, Overall="A")])
    subset = load_dataset("videogen-rewardbench", tmp_path, csv="subset.csv")
    assert len(subset) == 1 and subset[0].labels["OA"] == 1


def test_missing_root_file_and_columns_name_what_was_expected(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no data_root"):
        load_dataset("videogen-rewardbench", None)
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset("videogen-rewardbench", tmp_path / "nope")
    with pytest.raises(DatasetError, match=r"videogen-rewardbench\.csv"):
        load_dataset("videogen-rewardbench", tmp_path)
    with pytest.raises(DatasetError, match=r"missing\.csv not found"):
        load_dataset("videogen-rewardbench", tmp_path, csv="missing.csv")
    write_csv(tmp_path / "videogen-rewardbench.csv", [c for c in BENCH_HEADER if c != "Overall"], [])
    with pytest.raises(DatasetError, match=r"lacks column.*Overall"):
        load_dataset("videogen-rewardbench", tmp_path)


def test_bad_rows_are_skipped_and_named(tmp_path: Path) -> None:
    make_videos(tmp_path, "videos/0_a.mp4", "videos/0_b.mp4")
    path = write_csv(
        tmp_path / "videogen-rewardbench.csv",
        BENCH_HEADER,
        [
            bench_row(0),
            bench_row(1, TA="C"),
            bench_row(2, prompt="   "),
            bench_row(3, Overall=""),
            bench_row(4, fps_A="fast"),
        ],
    )
    with path.open("a") as handle:
        handle.write("videos/5_a.mp4,videos/5_b.mp4,m1\n")  # short row
        handle.write(",".join(map(str, bench_row(6))) + ",extra\n")  # too many fields
    dataset = load_dataset("videogen-rewardbench", tmp_path)
    assert len(dataset) == 1
    kinds = [(p.kind, p.row) for p in dataset.problems]
    assert kinds == [
        (BAD_LABEL, 2),
        (EMPTY_PROMPT, 3),
        (BAD_LABEL, 4),
        (BAD_VALUE, 5),
        (MISSING_FIELD, 6),
        (BAD_ROW, 7),
    ]
    assert all(str(path) in p and f"row {p.row}" in p for p in dataset.problems)
    assert "'C'" in dataset.problems[0]

    with pytest.raises(DatasetError, match=r"row 2 \(line 3\): bad label"):
        load_dataset("videogen-rewardbench", tmp_path, strict=True)
