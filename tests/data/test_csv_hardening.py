"""Issue 8, defects 3 and 4: huge CSV fields, unbalanced quotes and duplicate pairs are reported per row."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import gymnasium as gym
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import vr_env  # noqa: F401  (registers VRJudge-v0)
from vr_env import cli
from vr_env.data.base import PairDataset, load_dataset
from vr_env.data.csv_records import FIELD_LIMIT, split_records
from vr_env.data.problems import BAD_ROW, DUPLICATE_PAIR
from vr_env.data.records import PairRecord, VideoRef
from vr_env.data.validate import validate_dataset

HEADER = "prompt,video_1,video_2,OA\n"


def make_root(tmp_path: Path, body: str) -> Path:
    root = tmp_path / "root"
    (root / "videos").mkdir(parents=True)
    for name in ("a.mp4", "b.mp4", "c.mp4"):
        (root / "videos" / name).write_bytes(b"x")
    (root / "pairs.csv").write_text(HEADER + body, encoding="utf-8")
    return root


def test_a_field_over_the_csv_limit_is_one_row_problem_everywhere(tmp_path: Path, capsys) -> None:
    huge = "x" * (FIELD_LIMIT + 10)
    root = make_root(
        tmp_path,
        f"a cat,videos/a.mp4,videos/b.mp4,1\n{huge},videos/a.mp4,videos/c.mp4,1\nz,videos/b.mp4,videos/c.mp4,2\n",
    )
    dataset = load_dataset("generic", root)
    assert len(dataset) == 2 and len(dataset.problems) == 1
    assert (
        dataset.problems[0].kind == BAD_ROW
        and "row 2" in dataset.problems[0]
        and "limit is 131072" in dataset.problems[0]
    )
    # validate-data: the problem is listed, no traceback
    assert cli.main(["validate-data", "--dataset", "generic", "--data-root", str(root), "--no-videos"]) == 1
    assert "limit is 131072" in capsys.readouterr().out
    # gym.make loads the good rows
    env = gym.make("vr_env:VRJudge-v0", dataset="generic", data_root=str(root))
    assert len(env.unwrapped.dataset) == 2
    env.close()


def test_an_unterminated_quote_loses_no_row_silently(tmp_path: Path) -> None:
    rows = "".join(f"prompt {i},videos/a.mp4,videos/b.mp4,1\n" for i in range(5))
    root = make_root(tmp_path, '"broken,videos/a.mp4,videos/b.mp4,1\n' + rows)
    dataset = load_dataset("generic", root)
    assert [r.prompt for r in dataset] == [f"prompt {i}" for i in range(5)]
    assert len(dataset.problems) == 1 and "unterminated quote" in dataset.problems[0]


def test_a_quote_that_swallows_lines_names_them(tmp_path: Path) -> None:
    body = 'a "x,videos/a.mp4,videos/b.mp4,1\n"oops,videos/a.mp4,videos/b.mp4,1\nb,videos/a.mp4,videos/b.mp4,"2\nc",x,y,1\nlast,videos/a.mp4,videos/c.mp4,1\n'
    root = make_root(tmp_path, body)
    dataset = load_dataset("generic", root)
    assert [r.prompt for r in dataset][-1] == "last"
    assert any("row 2 (line 3)" in p and "line 4 was read as part of this row" in p for p in dataset.problems)


def test_duplicate_pairs_are_flagged_in_either_order(tmp_path: Path, capsys) -> None:
    body = "a cat,videos/a.mp4,videos/b.mp4,1\na  cat,videos/b.mp4,videos/a.mp4,2\na dog,videos/a.mp4,videos/b.mp4,1\n"
    root = make_root(tmp_path, body)
    report = validate_dataset(load_dataset("generic", root), check_videos=False)
    assert report.counts == {DUPLICATE_PAIR: 1} and report.bad_pairs == 1
    assert "row 2" in report.problems[0] and "generic/1" in report.problems[0]
    assert cli.main(["validate-data", "--dataset", "generic", "--data-root", str(root), "--no-videos"]) == 1
    assert "duplicate pair: 1" in capsys.readouterr().out


def test_validate_flags_duplicate_pairs_of_any_dataset() -> None:
    ref = VideoRef("/v/a.mp4"), VideoRef("/v/b.mp4")
    records = [PairRecord("p1", "cat", ref[0], ref[1], {}), PairRecord("p2", "cat", ref[1], ref[0], {})]
    report = validate_dataset(PairDataset(records), check_videos=False)
    assert report.counts == {DUPLICATE_PAIR: 1}


CELLS = st.text(alphabet=st.sampled_from(list('ab ,"\n\r\t\u00e9')), max_size=12)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(CELLS, min_size=1, max_size=4), min_size=1, max_size=6))
def test_records_written_by_the_csv_module_read_back_identically(table: list[list[str]]) -> None:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(table)
    expected = [row for row in csv.reader(io.StringIO(buffer.getvalue(), newline="")) if row]
    got = [r.fields for r in split_records(buffer.getvalue(), ",")]
    assert got == expected


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list('ab,"\n')), max_size=40))
def test_any_text_splits_without_raising(text: str) -> None:
    for record in split_records(text, ","):
        assert (record.fields is None) == (record.error is not None)


@pytest.mark.parametrize("delimiter", [",", "\t"])
def test_tsv_and_csv_agree_with_the_csv_module_on_plain_files(delimiter: str) -> None:
    text = delimiter.join(["a", '"b' + delimiter + 'c"', "d"]) + "\r\n\r\n1" + delimiter + "2" + delimiter + "3\n"
    expected = [r for r in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter) if r]
    assert [r.fields for r in split_records(text, delimiter)] == expected
