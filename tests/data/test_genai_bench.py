"""GenAI-Bench video votes: the real JSON copy, JSONL, and the published Parquet layout."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from vr_env.data.base import DatasetError, load_dataset
from vr_env.data.problems import BAD_LABEL, MISSING_VIDEO
from vr_env.data.validate import validate_dataset


def item(i: int, vote: str = "leftvote", **changes: object) -> dict[str, object]:
    return {"id": i, "prompt": f"prompt {i}", "video_left": f"{i}_l.mp4", "video_right": f"{i}_r.mp4",
            "vote_type": vote, **changes}  # fmt: skip


def test_real_copy_loads_all_votes(genai_bench_root: Path) -> None:
    dataset = load_dataset("genai-bench", genai_bench_root)
    assert len(dataset) == 1889 and dataset.problems == []
    assert Counter(r.meta["vote_type"] for r in dataset) == {
        "rightvote": 651,
        "leftvote": 619,
        "bothbad_vote": 404,
        "tievote": 215,
    }
    assert Counter(r.labels["OA"] for r in dataset) == {2: 651, 1: 619, 0: 404 + 215}
    assert all(r.labels["TA"] is None and r.labels["VQ"] is None and r.labels["MQ"] is None for r in dataset)
    first = dataset[0]
    assert first.pair_id == "genai-bench/0" and first.prompt == "A polar bear is playing guitar"
    assert first.video_1.path == str(genai_bench_root.resolve() / "videos" / "86aa85eec53c4b1293ef632e6183fe93.mp4")
    assert first.video_2.path.endswith("aadd660eca2b4d4788195c729920121f.mp4")


def test_real_copy_missing_videos_are_reported(genai_bench_root: Path) -> None:
    report = validate_dataset(load_dataset("genai-bench", genai_bench_root), data_root=genai_bench_root)
    assert not report.ok
    assert report.counts == {MISSING_VIDEO: 2 * 1889}
    assert report.bad_pairs == 1889
    assert any(str(genai_bench_root.resolve() / "videos") in hint and "does not exist" in hint for hint in report.hints)
    problem = report.problems[0]
    assert problem.row == 1 and problem.file.endswith("data.json")
    assert "86aa85eec53c4b1293ef632e6183fe93.mp4" in problem


def test_jsonl_with_videos_dir_and_root_fallback(tmp_path: Path) -> None:
    (tmp_path / "clips").mkdir()
    for name in ("0_l.mp4", "0_r.mp4"):
        (tmp_path / "clips" / name).write_bytes(b"x")
    (tmp_path / "1_l.mp4").write_bytes(b"x")  # directly under data_root
    lines = [item(0, "tievote"), item(1, "rightvote"), item(2, "upvote")]
    (tmp_path / "votes.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    dataset = load_dataset("genai-bench", tmp_path, videos_dir="clips")
    assert [r.labels["OA"] for r in dataset] == [0, 2]
    assert dataset[0].video_1.path == str(tmp_path.resolve() / "clips" / "0_l.mp4")
    assert dataset[1].video_1.path == str(tmp_path.resolve() / "1_l.mp4")
    assert [(p.kind, p.row, p.line) for p in dataset.problems] == [(BAD_LABEL, 3, 3)]
    assert "upvote" in dataset.problems[0]
    with pytest.raises(DatasetError, match="outside data_root"):
        load_dataset("genai-bench", tmp_path, videos_dir="../elsewhere")


def test_published_parquet_layout(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    (tmp_path / "video_generation").mkdir()
    rows = {
        "prompt": ["a cat", "a dog"],
        "left_model": ["ModelA", "ModelC"],
        "left_video": ["https://example.org/files/abc.mp4", "def.mp4"],
        "right_model": ["ModelB", "ModelD"],
        "right_video": ["https://example.org/files/ghi.mp4?download=1", "jkl.mp4"],
        "vote_type": ["leftvote", "bothbad_vote"],
    }
    pq.write_table(pa.table(rows), tmp_path / "video_generation" / "train-00000-of-00001.parquet")
    dataset = load_dataset("genai-bench", tmp_path)
    assert len(dataset) == 2 and dataset.problems == []
    first, second = dataset
    assert first.video_1.path == str(tmp_path.resolve() / "videos" / "abc.mp4")
    assert first.video_2.path == str(tmp_path.resolve() / "videos" / "ghi.mp4")
    assert (first.video_1.model, first.video_2.model) == ("ModelA", "ModelB")
    assert [first.labels["OA"], second.labels["OA"]] == [1, 0]
    assert second.meta["vote_type"] == "bothbad_vote"


def test_missing_label_file_says_what_is_expected(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"data\.json"):
        load_dataset("genai-bench", tmp_path)


def test_symlinked_videos_folder_needs_trust_symlinks(tmp_path: Path) -> None:
    store, root = tmp_path / "store", tmp_path / "root"
    store.mkdir()
    root.mkdir()
    (store / "0_l.mp4").write_bytes(b"x")
    (root / "videos").symlink_to(store)
    (root / "data.json").write_text(json.dumps([item(0)]))
    with pytest.raises(DatasetError, match="trust_symlinks"):
        load_dataset("genai-bench", root)
    dataset = load_dataset("genai-bench", root, trust_symlinks=True)
    assert dataset[0].video_1.path == str(root.resolve() / "videos" / "0_l.mp4")
    report = validate_dataset(dataset, data_root=root, trust_symlinks=True)
    assert report.counts == {MISSING_VIDEO: 1}  # 0_r.mp4 only
