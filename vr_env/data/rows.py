"""Row-reading helpers every file-based loader shares: tables with row numbers, label parsing,
field checks, and turning rows into records while collecting problems."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vr_env.data.base import DatasetError, PairDataset
from vr_env.data.csv_records import split_records, swallowed_lines
from vr_env.data.problems import (
    BAD_LABEL,
    BAD_ROW,
    BAD_VALUE,
    DUPLICATE_ID,
    EMPTY_PROMPT,
    MISSING_FIELD,
    Problem,
    ProblemLog,
    RowError,
)
from vr_env.data.records import PairRecord

#: Words accepted for a label (compared lower-cased with runs of spaces collapsed).
LABEL_WORDS: Mapping[str, int] = {
    **dict.fromkeys(("1", "a", "video 1", "video1", "video 1 better"), 1),
    **dict.fromkeys(("2", "b", "video 2", "video2", "video 2 better"), 2),
    **dict.fromkeys(("0", "same", "tie", "equal"), 0),
}


def parse_label(value: object, words: Mapping[str, int] = LABEL_WORDS) -> int | None:
    """``1`` / ``2`` / ``0`` from a label cell; ``None`` for an empty cell; ``ValueError`` otherwise.

    >>> [parse_label(v) for v in (1, "B", " Same ", "video 1", "", None)]
    [1, 2, 0, 1, None, None]
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a label")
    if isinstance(value, (int, float)):
        if value in (0, 1, 2):
            return int(value)
        raise ValueError(f"{value!r} is not 1, 2 or 0")
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a label")
    text = " ".join(value.split()).lower()
    if not text:
        return None
    if text in words:
        return words[text]
    raise ValueError(f"{value!r} is not one of {', '.join(sorted({w for w in words if not w.isdigit()}))}, 1, 2, 0")


@dataclass(frozen=True)
class SourceRow:
    """One row of a label file: its 1-based ``number``, its first ``line`` when known, its ``data``
    (or an ``error`` when the row could not be read as an object)."""

    number: int
    line: int | None
    data: Mapping[str, Any] | None
    error: str | None = None


@dataclass(frozen=True)
class Table:
    """A label file read into rows; ``columns`` is the header for CSV / Parquet, ``None`` for JSON."""

    path: Path
    columns: tuple[str, ...] | None
    rows: list[SourceRow]


def read_table(path: Path) -> Table:
    """Read ``.csv`` / ``.tsv`` / ``.jsonl`` / ``.ndjson`` / ``.json`` (a list of objects) / ``.parquet``."""
    suffix = path.suffix.lower()
    try:
        if suffix in (".csv", ".tsv"):
            return _read_csv(path, "\t" if suffix == ".tsv" else ",")
        if suffix in (".jsonl", ".ndjson"):
            return _read_jsonl(path)
        if suffix == ".json":
            return _read_json(path)
        if suffix == ".parquet":
            return _read_parquet(path)
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}: not UTF-8 text ({exc})") from exc
    except OSError as exc:
        raise DatasetError(f"{path}: cannot be read ({exc})") from exc
    raise DatasetError(f"{path}: unsupported label file type {suffix!r}; use .csv, .tsv, .jsonl, .json or .parquet")


def _read_csv(path: Path, delimiter: str) -> Table:
    """Read a CSV / TSV file; oversized fields and unbalanced quotes become per-row errors (see :mod:`vr_env.data.csv_records`)."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        text = handle.read()
    records = split_records(text, delimiter)
    header = next(records, None)
    if header is None or header.fields is None:
        why = header.error if header is not None else "no header row"
        raise DatasetError(f"{path}: empty or unreadable CSV header ({why})")
    columns = tuple(c.strip() for c in header.fields)
    rows: list[SourceRow] = []
    for number, record in enumerate(records, start=1):
        if record.fields is None:
            rows.append(SourceRow(number, record.line, None, record.error))
        elif len(record.fields) > len(columns) or (
            len(record.fields) < len(columns) and record.end_line > record.line
        ):  # too many fields, or too few because a quote ran over lines
            error = f"row has {len(record.fields)} fields, the header has {len(columns)}" + swallowed_lines(record)
            rows.append(SourceRow(number, record.line, None, error))
        else:
            data: dict[str, Any] = dict.fromkeys(columns)
            data.update(zip(columns, record.fields, strict=False))
            rows.append(SourceRow(number, record.line, data))
    return Table(path, columns, rows)


def _read_jsonl(path: Path) -> Table:
    rows: list[SourceRow] = []
    with path.open(encoding="utf-8-sig") as handle:
        number = 0
        for line, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            number += 1
            try:
                item = json.loads(text)
            except json.JSONDecodeError as exc:
                rows.append(SourceRow(number, line, None, f"invalid JSON: {exc.msg}"))
                continue
            rows.append(_object_row(number, line, item))
    return Table(path, None, rows)


def _read_json(path: Path) -> Table:
    try:
        items = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path}: invalid JSON at line {exc.lineno}: {exc.msg}") from exc
    if not isinstance(items, list):
        raise DatasetError(f"{path}: expected a JSON list of objects, found {type(items).__name__}")
    return Table(path, None, [_object_row(n, None, item) for n, item in enumerate(items, start=1)])


def _read_parquet(path: Path) -> Table:
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise DatasetError(f"{path}: reading Parquet needs pyarrow ({exc})") from exc
    table = pq.read_table(path)
    rows = [SourceRow(n, None, item) for n, item in enumerate(table.to_pylist(), start=1)]
    return Table(path, tuple(table.column_names), rows)


def _object_row(number: int, line: int | None, item: object) -> SourceRow:
    if isinstance(item, dict):
        return SourceRow(number, line, item)
    return SourceRow(number, line, None, f"expected an object, found {type(item).__name__}")


def require_columns(table: Table, required: Iterable[str], dataset: str) -> None:
    """:class:`DatasetError` when a CSV / Parquet header lacks a required column (JSON rows are checked one by one)."""
    if table.columns is None:
        return
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise DatasetError(
            f"{dataset}: {table.path} lacks column(s) {', '.join(missing)}; "
            f"expected columns {', '.join(required)} (found {', '.join(table.columns) or 'none'})"
        )


# ---- field helpers: each raises RowError, which the loader records against the row ----


def first_key(row: Mapping[str, Any], *keys: str) -> str:
    """The first of ``keys`` present in ``row`` (for layouts that name a field differently)."""
    for key in keys:
        if key in row:
            return key
    return keys[0]


def text_field(row: Mapping[str, Any], key: str) -> str:
    """A required text field (numbers are converted to text)."""
    value = row.get(key)
    if value is None:
        raise RowError(MISSING_FIELD, f"no value for {key!r}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise RowError(BAD_VALUE, f"{key}={value!r} is not text")
    return value


def optional_text(row: Mapping[str, Any], key: str) -> str | None:
    value = row.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return str(value).strip()


def prompt_field(row: Mapping[str, Any], key: str = "prompt") -> str:
    prompt = text_field(row, key).strip()
    if not prompt:
        raise RowError(EMPTY_PROMPT, f"{key!r} is empty")
    return prompt


def number_field(row: Mapping[str, Any], key: str, kind: type[float] | type[int] = float) -> Any:
    """An optional positive number (``fps``, frame counts); empty means unknown (``None``)."""
    value = row.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise RowError(BAD_VALUE, f"{key}={value!r} is not a number") from None
    if math.isnan(number):
        return None
    if not math.isfinite(number) or number <= 0 or (kind is int and not number.is_integer()):
        raise RowError(BAD_VALUE, f"{key}={value!r} is not a positive {'whole ' if kind is int else ''}number")
    return int(number) if kind is int else number


def label_field(
    row: Mapping[str, Any], key: str, *, required: bool, words: Mapping[str, int] = LABEL_WORDS
) -> int | None:
    """A label; a ``required`` one must be present and non-empty."""
    if required and key not in row:
        raise RowError(MISSING_FIELD, f"no value for label {key!r}")
    try:
        value = parse_label(row.get(key), words)
    except ValueError as exc:
        raise RowError(BAD_LABEL, f"{key}: {exc}") from None
    if required and value is None:
        raise RowError(BAD_LABEL, f"{key} is empty")
    return value


def source_meta(table: Table, row: SourceRow) -> dict[str, Any]:
    """Where a record came from: ``source_file``, ``source_row`` (1-based) and ``source_line``."""
    return {"source_file": str(table.path), "source_row": row.number, "source_line": row.line}


def load_rows(table: Table, build: Callable[[SourceRow], PairRecord], *, name: str, strict: bool) -> PairDataset:
    """Build one record per row; rows that fail become problems (or raise, when ``strict``)."""
    log = ProblemLog(strict)
    records: list[PairRecord] = []
    seen: set[str] = set()
    for row in table.rows:
        if row.data is None:
            log.add(Problem(BAD_ROW, row.error or "unreadable row", file=table.path, row=row.number, line=row.line))
            continue
        try:
            record = build(row)
        except RowError as exc:
            log.add(Problem(exc.kind, exc.detail, file=table.path, row=row.number, line=row.line))
            continue
        if record.pair_id in seen:
            detail = f"id {record.pair_id!r} was used by an earlier row"
            log.add(Problem(DUPLICATE_ID, detail, file=table.path, row=row.number, line=row.line))
            continue
        seen.add(record.pair_id)
        records.append(record)
    return PairDataset(records, log.problems, name=name)
