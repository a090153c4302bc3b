"""Checks every row and video of a dataset: :func:`validate_dataset` (see :mod:`vr_env.data.problems`)."""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from vr_env.data.base import PairDataset
from vr_env.data.container import check_container
from vr_env.data.problems import (
    BAD_DIMENSIONS,
    BAD_PATH,
    DUPLICATE_ID,
    DUPLICATE_PAIR,
    EMPTY_PROMPT,
    EMPTY_VIDEO,
    MISSING_VIDEO,
    NO_PAIRS,
    NOT_A_FILE,
    OUTSIDE_ROOT,
    UNREADABLE_VIDEO,
    Problem,
    ValidationReport,
    as_problem,
)
from vr_env.data.records import DIMENSION_KEYS, PairRecord, VideoRef


def pair_key(record: PairRecord) -> tuple[str, frozenset[str]]:
    """What makes two rows the same comparison: the prompt and the two videos, in either order."""
    return " ".join(record.prompt.split()), frozenset((record.video_1.path, record.video_2.path))


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
    seen_pairs: dict[tuple[str, frozenset[str]], str] = {}
    users: dict[str, list[tuple[PairRecord, str]]] = defaultdict(list)
    for record in dataset:
        record_problems = list(_record_problems(record, seen_ids))
        seen_ids.add(record.pair_id)
        earlier = seen_pairs.setdefault(pair_key(record), record.pair_id)
        if earlier != record.pair_id:
            detail = f"the same prompt and videos (in either order) as pair {earlier!r}"
            record_problems.append(_about(record, DUPLICATE_PAIR, detail))
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
    unrecognised: list[str] = []
    if check_videos:
        source, video_error = _frame_source(frame_source) if decode else (None, None)
        for path, refs in users.items():
            record, slot = refs[0]
            ref = getattr(record, slot)
            kind, detail = _check_video(ref, root, trust_symlinks, source, video_error, unrecognised)
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
    if unrecognised and not decode:
        hints.append(
            f"{len(unrecognised)} video(s) in a container this check does not recognise (e.g. {unrecognised[0]}): "
            "only their existence and size were checked; --decode opens them"
        )
    if not check_videos:
        checks = "videos not checked (--no-videos): rows only"
    elif decode:
        checks = "videos checked: path, existence, size, container header, and every video opened by the decoder"
    else:
        checks = (
            "videos checked: path, existence, size and container header (mp4/mov box index, avi size, "
            "mkv/webm/ogg/ts/flv signature); frames not decoded (--decode opens every video)"
        )
    return ValidationReport(
        dataset=dataset.name,
        pairs=len(dataset),
        videos=len(users),
        problems=problems,
        bad_pairs=len(bad_pairs),
        skipped_rows=len(dataset.problems),
        hints=hints,
        decoded=bool(decode and check_videos),
        checks=checks,
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
    unrecognised: list[str],
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
    try:
        container, container_problem = check_container(file)
    except OSError as exc:
        return UNREADABLE_VIDEO, f"cannot be read: {path}: {exc}"
    if container_problem is not None:
        return UNREADABLE_VIDEO, f"{container} container {container_problem}: {path}"
    if container is None:
        unrecognised.append(path)
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
