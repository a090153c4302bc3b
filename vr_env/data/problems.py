"""Problems found in a dataset: their kinds, :class:`Problem`, :class:`ProblemLog` and :class:`ValidationReport`.

A :class:`Problem` is a ``str`` (so ``PairDataset.problems`` stays a list of strings) that also
carries its kind, file, row and pair. Loaders collect them with :class:`ProblemLog`;
:func:`vr_env.data.validate.validate_dataset` adds the checks that need the file system or a
decoder and returns a :class:`ValidationReport` with every problem and the counts by kind.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vr_env.data.base import DatasetError

# Problem kinds (stable strings: they are the keys of ValidationReport.counts).
MISSING_VIDEO = "missing video"
EMPTY_VIDEO = "empty video"
NOT_A_FILE = "not a file"
UNREADABLE_VIDEO = "unreadable video"
OUTSIDE_ROOT = "outside data_root"
BAD_PATH = "bad path"
BAD_LABEL = "bad label"
MISSING_FIELD = "missing field"
EMPTY_PROMPT = "empty prompt"
BAD_VALUE = "bad value"
BAD_ROW = "bad row"
DUPLICATE_ID = "duplicate id"
DUPLICATE_PAIR = "duplicate pair"
BAD_DIMENSIONS = "bad dimensions"
NO_PAIRS = "no pairs"


class Problem(str):
    """One problem, readable as text and keeping its parts: ``kind``, ``detail``, ``file``, ``row``, ``line``, ``pair_id``.

    >>> p = Problem(BAD_LABEL, "TA='C' is not A, B or same", file="x.csv", row=3, line=4)
    >>> str(p)
    "x.csv, row 3 (line 4): bad label: TA='C' is not A, B or same"
    >>> p.kind, p.row
    ('bad label', 3)
    """

    kind: str
    detail: str
    file: str | None
    row: int | None
    line: int | None
    pair_id: str | None

    def __new__(
        cls,
        kind: str,
        detail: str,
        *,
        file: str | Path | None = None,
        row: int | None = None,
        line: int | None = None,
        pair_id: str | None = None,
    ) -> Problem:
        file = str(file) if file is not None else None
        where = [file] if file else []
        if row is not None:
            where.append(f"row {row}" + (f" (line {line})" if line is not None and line != row else ""))
        if pair_id is not None and row is None:
            where.append(f"pair {pair_id}")
        text = f"{', '.join(where)}: {kind}: {detail}" if where else f"{kind}: {detail}"
        self = super().__new__(cls, text)
        self.kind, self.detail, self.file, self.row, self.line, self.pair_id = kind, detail, file, row, line, pair_id
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        kwargs = {"file": self.file, "row": self.row, "line": self.line, "pair_id": self.pair_id}
        return (_make_problem, (self.kind, self.detail, kwargs))

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "file": self.file,
            "row": self.row,
            "line": self.line,
            "pair_id": self.pair_id,
            "detail": self.detail,
            "message": str(self),
        }


def _make_problem(kind: str, detail: str, kwargs: dict[str, Any]) -> Problem:
    return Problem(kind, detail, **kwargs)


def as_problem(item: str) -> Problem:
    """A :class:`Problem` from an entry of ``PairDataset.problems`` (plain strings become ``bad row``)."""
    return item if isinstance(item, Problem) else Problem(BAD_ROW, str(item))


class RowError(Exception):
    """Raised while reading one row; the loader turns it into a :class:`Problem` naming file and row."""

    def __init__(self, kind: str, detail: str):
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


class ProblemLog:
    """Collects problems while loading; with ``strict=True`` the first one raises :class:`DatasetError`."""

    def __init__(self, strict: bool = False):
        self.strict = strict
        self.problems: list[Problem] = []

    def add(self, problem: Problem) -> None:
        if self.strict:
            raise DatasetError(str(problem))
        self.problems.append(problem)


@dataclass
class ValidationReport:
    """Everything :func:`validate_dataset` found. ``ok`` is true when there is no problem at all."""

    dataset: str
    pairs: int
    videos: int
    problems: list[Problem] = field(default_factory=list)
    bad_pairs: int = 0
    skipped_rows: int = 0
    hints: list[str] = field(default_factory=list)
    decoded: bool = False
    #: What was and was not checked, in words (printed by :meth:`summary`).
    checks: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def counts(self) -> dict[str, int]:
        """Number of problems by kind, most frequent first."""
        return dict(Counter(p.kind for p in self.problems).most_common())

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "ok": self.ok,
            "pairs": self.pairs,
            "bad_pairs": self.bad_pairs,
            "skipped_rows": self.skipped_rows,
            "videos": self.videos,
            "decoded": self.decoded,
            "checks": self.checks,
            "problem_count": len(self.problems),
            "counts": self.counts,
            "hints": list(self.hints),
            "problems": [p.to_dict() for p in self.problems],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def summary(self, max_listed: int = 10) -> str:
        """Human-readable summary; lists at most ``max_listed`` problems per kind (0 = all)."""
        status = "OK" if self.ok else f"{len(self.problems)} problem(s)"
        lines = [
            f"dataset {self.dataset}: {self.pairs} pairs, {self.videos} distinct videos"
            f"{' (decoded)' if self.decoded else ''}: {status}"
        ]
        if self.checks:
            lines.append(self.checks)
        if self.ok:
            return "\n".join(lines)
        lines.append(
            f"rows skipped at load: {self.skipped_rows}; loaded pairs with a problem: {self.bad_pairs} of {self.pairs}"
        )
        lines.append("problems by kind:")
        by_kind: dict[str, list[Problem]] = defaultdict(list)
        for problem in self.problems:
            by_kind[problem.kind].append(problem)
        for kind, count in self.counts.items():
            lines.append(f"  {kind}: {count}")
        for kind in self.counts:
            items = by_kind[kind]
            shown = items if max_listed <= 0 else items[:max_listed]
            lines.append(f"{kind}:")
            lines.extend(f"  {p}" for p in shown)
            if len(shown) < len(items):
                lines.append(f"  ... and {len(items) - len(shown)} more (use --max-listed 0 or --json to see all)")
        if self.hints:
            lines.append("hints:")
            lines.extend(f"  {hint}" for hint in self.hints)
        return "\n".join(lines)
