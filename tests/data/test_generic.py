"""The generic pair format (CSV / JSONL / JSON) and the path rules every loader shares."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from vr_env.data.base import DatasetError, load_dataset
from vr_env.data.problems import BAD_PATH, BAD_ROW, DUPLICATE_ID, EMPTY_PROMPT, MISSING_FIELD, OUTSIDE_ROOT
from vr_env.data.rows import parse_label


def make_root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "videos").mkdir(parents=True)
    for name in ("a.mp4", "b.mp4"):
        (root / "videos" / name).write_bytes(b"x")
    return root


def write_jsonl(path: Path, rows: list[object]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def pair(**changes: object) -> dict[str, object]:
    return {"prompt": "a cat", "video_1": "videos/a.mp4", "video_2": "videos/b.mp4", **changes}


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1, 1), (2, 2), (0, 0), ("1", 1), ("A", 1), ("b", 2), ("same", 0), ("Tie", 0), ("video 1", 1),
     ("Video 2", 2), ("video 2 better", 2), ("", None), (None, None), (float("nan"), None), (2.0, 2)],
)  # fmt: skip
def test_parse_label_accepts_the_documented_words(value: object, expected: int | None) -> None:
    assert parse_label(value) == expected


@pytest.mark.parametrize("value", [3, -1, True, "C", "video 3", "left", [1]])
def test_parse_label_rejects_anything_else(value: object) -> None:
    with pytest.raises(ValueError):
        parse_label(value)


def test_jsonl_labels_ids_metadata_and_dimension_names(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    write_jsonl(
        root / "pairs.jsonl",
        [
            pair(id="p1", TA=1, VQ="B", MQ="same", OA="video 1", model_1="m", fps_2=8, num_frames_2=16),
            pair(TA_name="Alignment", MQ_explanation="Does it move well?"),
        ],
    )
    dataset = load_dataset("generic", root, dimension_names={"VQ": "Looks"})
    assert dataset.problems == []
    first, second = dataset
    assert first.pair_id == "p1" and second.pair_id == "generic/2"
    assert dict(first.labels) == {"TA": 1, "VQ": 2, "MQ": 0, "OA": 1}
    assert dict(second.labels) == {"TA": None, "VQ": None, "MQ": None, "OA": None}
    assert (first.video_1.model, first.video_2.fps, first.video_2.num_frames) == ("m", 8.0, 16)
    assert first.video_1.path == str(root.resolve() / "videos" / "a.mp4")
    assert [d.name for d in first.dimensions] == ["Text Alignment", "Looks", "Motion Quality"]
    assert [d.name for d in second.dimensions] == ["Alignment", "Looks", "Motion Quality"]
    assert second.dimensions[2].explanation == "Does it move well?"


def test_csv_format_and_required_columns(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    (root / "pairs.csv").write_text(
        "id,prompt,video_1,video_2,OA,TA\n"
        "x,a cat,videos/a.mp4,videos/b.mp4,A,2\n"
        "y,a dog,videos/b.mp4,videos/a.mp4,tie,\n"
    )
    dataset = load_dataset("generic", root)
    assert [r.pair_id for r in dataset] == ["x", "y"]
    assert [dict(r.labels) for r in dataset] == [
        {"TA": 2, "VQ": None, "MQ": None, "OA": 1},
        {"TA": None, "VQ": None, "MQ": None, "OA": 0},
    ]
    (root / "bad.csv").write_text("prompt,video_1\na cat,videos/a.mp4\n")
    with pytest.raises(DatasetError, match=r"lacks column.*video_2"):
        load_dataset("generic", root, file="bad.csv")


def test_path_escapes_are_rejected_and_name_the_row(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    outside = tmp_path / "outside.mp4"
    outside.write_bytes(b"x")
    os.symlink(outside, root / "videos" / "link.mp4")
    os.symlink(tmp_path, root / "dirlink")
    (root / "videos" / "inner.mp4").symlink_to(root / "videos" / "a.mp4")  # a symlink that stays inside is fine
    rows = [
        pair(video_1=str(outside)),  # absolute path elsewhere
        pair(video_2="../outside.mp4"),  # .. escape
        pair(video_1="videos/../../outside.mp4"),
        pair(video_1="videos/link.mp4"),  # symlink to a file outside
        pair(video_1="dirlink/outside.mp4"),  # through a symlinked folder
        pair(video_1=str(root / "videos" / "a.mp4")),  # absolute but inside: accepted
        pair(video_1="videos/inner.mp4"),
        pair(video_1="https://example.org/a.mp4"),
        pair(video_1=""),
    ]
    write_jsonl(root / "pairs.jsonl", rows)
    dataset = load_dataset("generic", root)
    assert [r.meta["source_row"] for r in dataset] == [6, 7]
    assert dataset[1].video_1.path == str(root.resolve() / "videos" / "a.mp4")
    assert [(p.kind, p.row) for p in dataset.problems] == [
        (OUTSIDE_ROOT, 1), (OUTSIDE_ROOT, 2), (OUTSIDE_ROOT, 3), (OUTSIDE_ROOT, 4), (OUTSIDE_ROOT, 5),
        (BAD_PATH, 8), (BAD_PATH, 9),
    ]  # fmt: skip
    assert all("pairs.jsonl, row" in p for p in dataset.problems)
    assert "symlink" in dataset.problems[3]

    trusting = load_dataset("generic", root, trust_symlinks=True)
    assert {r.meta["source_row"] for r in trusting} == {4, 5, 6, 7}  # symlinks accepted, '..' still not
    assert trusting[0].video_1.path == str(root.resolve() / "videos" / "link.mp4")


def test_bad_rows_duplicates_and_strict(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    path = root / "pairs.jsonl"
    path.write_text(
        json.dumps(pair(id="same")) + "\n"
        "\n"
        "{not json\n"
        + json.dumps(pair(id="same")) + "\n"
        + json.dumps(["a", "list"]) + "\n"
        + json.dumps(pair(prompt=" ")) + "\n"
        + json.dumps({"prompt": "no videos"}) + "\n"
    )  # fmt: skip
    dataset = load_dataset("generic", root)
    assert len(dataset) == 1
    assert [(p.kind, p.row, p.line) for p in dataset.problems] == [
        (BAD_ROW, 2, 3), (DUPLICATE_ID, 3, 4), (BAD_ROW, 4, 5), (EMPTY_PROMPT, 5, 6), (MISSING_FIELD, 6, 7),
    ]  # fmt: skip
    with pytest.raises(DatasetError, match=r"pairs\.jsonl, row 2 \(line 3\): bad row: invalid JSON"):
        load_dataset("generic", root, strict=True)


def test_label_file_choice(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    with pytest.raises(DatasetError, match=r"pairs\.jsonl"):
        load_dataset("generic", root)
    write_jsonl(root / "mine.json.jsonl", [pair()])
    (root / "mine.json").write_text(json.dumps([pair(), pair()]))
    assert len(load_dataset("generic", root)) == 1  # the only *.jsonl comes before *.json
    assert len(load_dataset("generic", root, file=root / "mine.json")) == 2
    (root / "notes.txt").write_text("x")
    with pytest.raises(DatasetError, match="unsupported label file type"):
        load_dataset("generic", root, file="notes.txt")
    with pytest.raises(DatasetError, match="unknown keys"):
        load_dataset("generic", root, dimension_names={"XX": "y"})
