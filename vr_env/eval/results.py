"""The evaluation's files: ``results.jsonl`` (one row per episode, append-only, resumable) and the
``config.json`` identity check that decides whether a rerun may resume into a folder."""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from vr_env.driver import job_key

RESULTS_FILE = "results.jsonl"
METRICS_FILE = "metrics.json"
REPORT_FILE = "report.md"
CONFIG_FILE = "config.json"
#: Fields of ``config.json`` that must match for a rerun to resume into the same folder.
RESUME_IDENTITY: tuple[str, ...] = ("agent", "dataset", "env", "protocol_sha256", "seed", "shard")


class EvalConfigError(ValueError):
    """The output folder holds results of a different evaluation (agent, dataset, env or seed)."""


class ResultsFile:
    """Append-only JSON lines, one row per episode, flushed as written.

    :meth:`load` reads the rows back; an unreadable last line (a run killed mid-write) is cut off
    the file (left in place with ``repair=False``), an unreadable line elsewhere is skipped with a
    warning. Later rows win over earlier rows with the same key. :meth:`rewrite` replaces the file
    atomically.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.dropped_lines = 0

    def load(self, repair: bool = True) -> dict[str, dict[str, Any]]:
        rows: dict[str, dict[str, Any]] = {}
        if not self.path.exists():
            return rows
        data = self.path.read_bytes()
        lines = data.split(b"\n")
        offset = 0
        for number, raw in enumerate(lines, start=1):
            start, offset = offset, offset + len(raw) + 1
            if not raw.strip():
                continue
            try:
                row = json.loads(raw)
                if not isinstance(row, dict) or "pair_index" not in row:
                    raise ValueError("not a result row")
            except ValueError:
                self.dropped_lines += 1
                rest = b"".join(lines[number:]).strip()
                if not rest and not repair:
                    break
                if not rest:  # the torn last line of an interrupted run: cut it off
                    with self.path.open("r+b") as handle:
                        handle.truncate(start)
                    warnings.warn(f"{self.path}: dropped an incomplete last line (line {number})", stacklevel=2)
                    break
                warnings.warn(f"{self.path}: skipped unreadable line {number}", stacklevel=2)
                continue
            rows[job_key(row["pair_index"], row.get("swapped", False))] = row
        if repair and data and not data.endswith(b"\n") and self.path.stat().st_size == len(data):
            with self.path.open("ab") as handle:  # a complete last row without its newline
                handle.write(b"\n")
        return rows

    def append(self, row: Mapping[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(row, sort_keys=True, default=_json_default) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def rewrite(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Replace the file by ``rows`` in order (written to a temporary file, then renamed)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(self.path.name + ".tmp")
        with temporary.open("w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row, sort_keys=True, default=_json_default) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.path)


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    return repr(value)


def to_jsonable(value: Any) -> Any:
    """``value`` as plain JSON data (tuples become lists, numpy scalars numbers)."""
    return json.loads(json.dumps(value, default=_json_default))


def check_resume(out: Path, config: Mapping[str, Any]) -> None:
    """Raise :class:`EvalConfigError` when ``out`` holds results of a different evaluation."""
    path = out / CONFIG_FILE
    if not path.exists() or not (out / RESULTS_FILE).exists():
        return
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return
    new = to_jsonable(config)
    differing = [k for k in RESUME_IDENTITY if old.get(k) != new.get(k)]
    if differing:
        raise EvalConfigError(
            f"{out} holds results of a different evaluation ({', '.join(differing)} differ); "
            "use another output folder or overwrite it"
        )
