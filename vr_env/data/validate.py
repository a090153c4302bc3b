"""Problems found in a dataset, and :func:`validate_dataset`, which checks every row and video.

A :class:`Problem` is a ``str`` (so ``PairDataset.problems`` stays a list of strings) that also
carries its kind, file, row and pair. Loaders collect them with :class:`ProblemLog`;
:func:`validate_dataset` adds the checks that need the file system or a decoder and returns a
:class:`ValidationReport` with every problem and the counts by kind.
"""

from __future__ import annotations

import json
import os
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vr_env.data.base import DatasetError, PairDataset
from vr_env.data.records import DIMENSION_KEYS, PairRecord, VideoRef

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
        if self.ok:
            return lines[0]
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


def validate_dataset(
    dataset: PairDataset,
    check_videos: bool = True,
    decode: bool = False,
    *,
    data_root: str | Path | None = None,
    trust_symlinks: bool = False,
    frame_source: Any = None,
) -> ValidationReport:
    """Check every record and every referenced video; report all problems.

    Starts from the rows the loader skipped (``dataset.problems``), then checks each record (prompt,
    dimension keys, unique ``pair_id``) and, with ``check_videos``, each distinct video file once
    (absolute path, under ``data_root`` when given, following symlinks unless ``trust_symlinks``,
    exists, is a file, non-empty). With ``decode`` it also opens each video with the video layer
    (``vr_env.video.FrameSource().num_frames``; ``frame_source`` replaces that object) and reports a
    ``VideoError`` as ``unreadable video``. Synthetic videos are only checked for a positive frame
    count. Raises ``RuntimeError`` when ``decode`` is asked for and ``vr_env.video`` cannot be imported.
    """
    root = Path(data_root).expanduser().resolve() if data_root is not None else None
    problems = [as_problem(p) for p in dataset.problems]
    bad_pairs: set[str] = set()
    seen_ids: set[str] = set()
    users: dict[str, list[tuple[PairRecord, str]]] = defaultdict(list)
    for record in dataset:
        record_problems = list(_record_problems(record, seen_ids))
        seen_ids.add(record.pair_id)
        for slot, ref in (("video_1", record.video_1), ("video_2", record.video_2)):
            if ref.is_synthetic:
                if ref.clip is not None and int(getattr(ref.clip, "num_frames", 0)) <= 0:
                    record_problems.append(_about(record, UNREADABLE_VIDEO, f"{slot} synthetic clip has no frames"))
            else:
                users[ref.path].append((record, slot))
        if record_problems:
            bad_pairs.add(record.pair_id)
            problems.extend(record_problems)
    if len(dataset) == 0:
        problems.append(Problem(NO_PAIRS, "the dataset has no usable pairs"))

    missing_dirs: Counter[str] = Counter()
    if check_videos:
        source, video_error = _frame_source(frame_source) if decode else (None, None)
        for path, refs in users.items():
            record, slot = refs[0]
            kind, detail = _check_video(getattr(record, slot), root, trust_symlinks, source, video_error)
            if kind is None:
                continue
            more = f" (referenced {len(refs)} times)" if len(refs) > 1 else ""
            problems.append(_about(record, kind, f"{slot} {detail}{more}"))
            bad_pairs.update(r.pair_id for r, _ in refs)
            if kind == MISSING_VIDEO and not Path(path).parent.exists():
                missing_dirs[str(Path(path).parent)] += 1

    hints = [
        f"folder {folder} does not exist ({count} missing video(s) are expected there)"
        for folder, count in missing_dirs.most_common(5)
    ]
    if len(missing_dirs) > 5:
        hints.append(f"... and {len(missing_dirs) - 5} more missing folders")
    return ValidationReport(
        dataset=dataset.name,
        pairs=len(dataset),
        videos=len(users),
        problems=problems,
        bad_pairs=len(bad_pairs),
        skipped_rows=len(dataset.problems),
        hints=hints,
        decoded=bool(decode and check_videos),
    )


def _about(record: PairRecord, kind: str, detail: str) -> Problem:
    meta = record.meta
    return Problem(
        kind,
        detail,
        file=meta.get("source_file"),
        row=meta.get("source_row"),
        line=meta.get("source_line"),
        pair_id=record.pair_id,
    )


def _record_problems(record: PairRecord, seen_ids: set[str]) -> Iterable[Problem]:
    if not record.prompt or not record.prompt.strip():
        yield _about(record, EMPTY_PROMPT, "the prompt is empty")
    keys = [d.key for d in record.dimensions]
    if sorted(keys) != sorted(DIMENSION_KEYS):
        yield _about(record, BAD_DIMENSIONS, f"dimension keys are {keys}, expected {list(DIMENSION_KEYS)}")
    if record.pair_id in seen_ids:
        yield _about(record, DUPLICATE_ID, f"pair_id {record.pair_id!r} is used by an earlier pair")


def _frame_source(frame_source: Any) -> tuple[Any, type[BaseException]]:
    try:
        from vr_env.video import FrameSource, VideoError
    except ImportError as exc:
        raise RuntimeError(
            f"decoding videos needs the video layer vr_env.video, which failed to import: {exc}"
        ) from exc
    return (frame_source if frame_source is not None else FrameSource()), VideoError


def _check_video(
    ref: VideoRef,
    root: Path | None,
    trust_symlinks: bool,
    source: Any,
    video_error: type[BaseException] | None,
) -> tuple[str | None, str]:
    path = ref.path
    file = Path(path)
    if not file.is_absolute():
        return BAD_PATH, f"path is not absolute: {path}"
    if root is not None:
        real = Path(os.path.normpath(file)) if trust_symlinks else file.resolve()
        if real != root and root not in real.parents:
            return OUTSIDE_ROOT, f"{path} is outside data_root {root}"
    if not file.exists():
        return MISSING_VIDEO, f"not found: {path}"
    if not file.is_file():
        return NOT_A_FILE, f"is not a regular file: {path}"
    try:
        size = file.stat().st_size
    except OSError as exc:
        return UNREADABLE_VIDEO, f"cannot be read: {path}: {exc}"
    if size == 0:
        return EMPTY_VIDEO, f"is an empty file: {path}"
    if source is None or video_error is None:
        return None, ""
    try:
        frames = int(source.num_frames(ref))
    except video_error as exc:
        return UNREADABLE_VIDEO, f"cannot be decoded: {exc}"
    except Exception as exc:  # a decoder error the video layer did not wrap: still a bad file, keep going
        return UNREADABLE_VIDEO, f"cannot be decoded ({type(exc).__name__} not wrapped in VideoError): {exc}"
    if frames <= 0:
        return UNREADABLE_VIDEO, f"has no frames: {path}"
    return None, ""
