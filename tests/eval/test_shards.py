"""Sharded evaluation: shard folders, per-shard resume, merging into what one process writes, refusals."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.eval.test_runner import SMALL, CountingAgent, lines
from vr_env.eval import evaluate
from vr_env.eval.jobs import make_jobs
from vr_env.eval.merge import ShardMergeError, merge_shard_folders
from vr_env.eval.results import EvalConfigError
from vr_env.eval.shards import Shard

QUIET: dict[str, Any] = {"progress": False, "plots": False}


def timeless(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]


def test_shard_parsing_and_a_partition_of_the_jobs() -> None:
    assert Shard.parse("2/8") == Shard(2, 8) and Shard(2, 8).name == "2-of-8"
    for bad in ("8/8", "-1/4", "1", "a/b", "1/0"):
        with pytest.raises(ValueError, match="I/N"):
            Shard.parse(bad)
    pairs = [9, 3, 5, 0, 7, 1, 4]
    jobs = make_jobs(pairs, swap_check=True)
    parts = [Shard(i, 3).jobs(jobs, pairs) for i in range(3)]
    assert sorted(j.key for part in parts for j in part) == sorted(j.key for j in jobs)  # disjoint and complete
    assert [j.key for j in parts[1]] == ["3:0", "7:0", "3:1", "7:1"]  # positions 1 and 4, both orientations


def run_shards(out: Path, count: int, **kwargs: Any) -> None:
    for index in range(count):
        evaluate("random", SMALL, out_dir=out, shard=Shard(index, count), **QUIET, **kwargs)


def test_merged_shards_equal_one_process(tmp_path: Path) -> None:
    options: dict[str, Any] = {"limit": 9, "swap_check": True, "seed": 3}
    single = evaluate("random", SMALL, out_dir=tmp_path / "one", **QUIET, **options)
    run_shards(tmp_path / "sh", 3, **options)
    assert [len(lines(tmp_path / "sh" / "shards" / f"{i}-of-3" / "results.jsonl")) for i in range(3)] == [6, 6, 6]
    merged = merge_shard_folders(tmp_path / "sh", plots=False)
    assert merged == single and 0 < single["tau"] < 1
    one, sh = tmp_path / "one", tmp_path / "sh"
    assert (sh / "metrics.json").read_text() == (one / "metrics.json").read_text()
    assert (sh / "report.md").read_text() == (one / "report.md").read_text()
    assert timeless(lines(sh / "results.jsonl")) == timeless(lines(one / "results.jsonl"))  # same rows, same order
    config = json.loads((sh / "config.json").read_text())
    assert "shard" not in config and config["shards"] == 3
    # The merged folder is an ordinary evaluation folder: a single-process rerun resumes into it.
    assert evaluate("random", SMALL, out_dir=sh, **QUIET, **options) == single


def test_resume_per_shard(tmp_path: Path) -> None:
    calls: Counter = Counter()
    evaluate(CountingAgent(calls), SMALL, limit=6, out_dir=tmp_path, shard=Shard(0, 2), **QUIET)
    assert sorted(calls) == [0, 2, 4]
    calls.clear()
    metrics = evaluate(CountingAgent(calls), SMALL, limit=10, out_dir=tmp_path, shard=Shard(0, 2), **QUIET)
    assert sorted(calls) == [6, 8] and metrics["n"] == 5  # a larger limit extends the shard
    results = tmp_path / "shards" / "0-of-2" / "results.jsonl"
    text = results.read_text().splitlines(keepends=True)
    results.write_text("".join(text[:-1]) + text[-1][:10])  # killed while writing its last row
    calls.clear()
    with pytest.warns(UserWarning, match="incomplete last line"):
        evaluate(CountingAgent(calls), SMALL, limit=10, out_dir=tmp_path, shard=Shard(0, 2), **QUIET)
    assert sorted(calls) == [8] and [r["pair_index"] for r in lines(results)] == [0, 2, 4, 6, 8]
    calls.clear()  # the other shard is independent
    evaluate(CountingAgent(calls), SMALL, limit=10, out_dir=tmp_path, shard=Shard(1, 2), **QUIET)
    assert sorted(calls) == [1, 3, 5, 7, 9]


def test_shards_resume_from_the_merged_folder(tmp_path: Path) -> None:
    evaluate(CountingAgent(Counter()), SMALL, limit=4, out_dir=tmp_path, **QUIET)  # one process, pairs 0-3
    calls: Counter = Counter()
    evaluate(CountingAgent(calls), SMALL, limit=8, out_dir=tmp_path, shard=Shard(1, 2), **QUIET)
    assert sorted(calls) == [5, 7]  # 1 and 3 were played by the earlier run
    shard_rows = lines(tmp_path / "shards" / "1-of-2" / "results.jsonl")
    assert sorted(r["pair_index"] for r in shard_rows) == [1, 3, 5, 7]  # the shard folder is complete
    with pytest.raises(EvalConfigError, match="agent"):  # the merged folder holds another evaluation
        evaluate("random", SMALL, limit=8, out_dir=tmp_path, shard=Shard(0, 2), **QUIET)


def test_merge_refusals(tmp_path: Path) -> None:
    out = tmp_path / "run"
    run_shards(out, 3, limit=6)
    folders = [out / "shards" / f"{i}-of-3" for i in range(3)]

    def refused(match: str, shards: list[Path], target: Path = out) -> None:
        with pytest.raises(ShardMergeError, match=match):
            merge_shard_folders(target, shards, plots=False)

    refused(r"1-of-3 missing", [folders[0], folders[2]])
    twin = tmp_path / "copy"
    shutil.copytree(folders[0], twin)
    refused(r"shard 0-of-3 given twice", [folders[0], twin, folders[1], folders[2]])
    refused(r"no config.json", [tmp_path / "nowhere", *folders])
    single = tmp_path / "single"
    evaluate("random", SMALL, limit=6, out_dir=single, **QUIET)
    refused(r"not a shard folder", [single, *folders])
    other = tmp_path / "other"
    evaluate("random", SMALL, limit=6, seed=5, out_dir=other, shard=Shard(1, 3), **QUIET)
    refused(r"different evaluations \(seed differ\)", [folders[0], other / "shards" / "1-of-3", folders[2]])
    results = folders[2] / "results.jsonl"
    kept = results.read_text().splitlines(keepends=True)
    results.write_text("".join(kept[:-1]))  # shard 2 lost its last episode (pair 5)
    refused(r"1 of 6 episodes have no result \(pair 5\); shard\(s\) 2-of-3 did not finish", folders)
    results.write_text("".join(kept) + (folders[1] / "results.jsonl").read_text().splitlines(keepends=True)[0])
    refused(r"episode pair 1 is in two shards", folders)
    results.write_text("".join(kept))
    evaluate("answer-now", SMALL, limit=2, out_dir=tmp_path / "busy", **QUIET)
    with pytest.raises(EvalConfigError, match="agent"):  # the target folder holds another evaluation
        merge_shard_folders(tmp_path / "busy", folders, plots=False)
    assert merge_shard_folders(out, plots=False)["n"] == 6  # all checks pass: default folders under out/shards


def test_more_shards_than_pairs(tmp_path: Path) -> None:
    run_shards(tmp_path, 3, limit=2)
    assert lines(tmp_path / "shards" / "2-of-3" / "results.jsonl") == []  # an empty shard is a finished shard
    assert merge_shard_folders(tmp_path, plots=False) == evaluate("random", SMALL, limit=2, progress=False)
