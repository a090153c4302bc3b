"""VideoGen-RewardBench (``videogen-rewardbench``) and the VideoGen-Reward training CSV (``videogen-reward``).

Both are CSVs with ``path_A, path_B, prompt, VQ, MQ, TA`` and per-video ``fps_*`` /
``num_frames_*``; the benchmark adds ``A_model, B_model, Overall``. Labels ``A`` / ``B`` / ``same``
become ``1`` / ``2`` / ``0``; video A is ``video_1``. The training CSV has no overall label, so its
records have ``OA = None`` (an overall accuracy needs ``Overall``; see docs/datasets.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from vr_env.data.base import DatasetError, PairDataset, register_dataset
from vr_env.data.paths import VideoResolver, find_label_file, require_data_root
from vr_env.data.records import VIDEOGEN_DIMENSIONS, PairRecord, VideoRef
from vr_env.data.rows import (
    SourceRow,
    Table,
    label_field,
    load_rows,
    number_field,
    optional_text,
    prompt_field,
    read_table,
    require_columns,
    source_meta,
    text_field,
)

#: ``A`` / ``B`` / ``same`` (also ``1`` / ``2`` / ``0`` and ``tie``), case-insensitive.
VIDEOGEN_LABELS = {"a": 1, "b": 2, "same": 0, "tie": 0, "1": 1, "2": 2, "0": 0}
DIMENSION_COLUMNS = ("TA", "VQ", "MQ")
REWARDBENCH_COLUMNS = ("path_A", "path_B", "prompt", "VQ", "MQ", "TA", "Overall")
TRAIN_COLUMNS = ("path_A", "path_B", "prompt", "VQ", "MQ", "TA")
TRAIN_PATTERNS = ("example.csv", "train.csv", "*.csv")


@register_dataset("videogen-rewardbench")
def load_videogen_rewardbench(
    data_root: Path | None,
    *,
    csv: str | Path | None = None,
    file: str | Path | None = None,
    strict: bool = False,
    trust_symlinks: bool = False,
) -> PairDataset:
    """``videogen-rewardbench.csv`` (or ``csv=``) beside ``videos/`` under ``data_root``; every label is required."""
    name = "videogen-rewardbench"
    root = require_data_root(data_root, name, "videogen-rewardbench.csv beside a videos/ folder")
    path = find_label_file(root, _one(csv, file, name), ("videogen-rewardbench.csv",), name)
    return _load(root, path, name, REWARDBENCH_COLUMNS, with_overall=True, strict=strict, trust_symlinks=trust_symlinks)


@register_dataset("videogen-reward")
def load_videogen_reward(
    data_root: Path | None,
    *,
    csv: str | Path | None = None,
    file: str | Path | None = None,
    strict: bool = False,
    trust_symlinks: bool = False,
) -> PairDataset:
    """The training CSV (``csv=``, else ``example.csv``, ``train.csv`` or the only ``*.csv``).

    ``OA`` comes from an ``Overall`` column when the file has one, else it is ``None``.
    """
    name = "videogen-reward"
    root = require_data_root(data_root, name, "a VideoGen-Reward training CSV (example.csv / train.csv) and its videos")
    path = find_label_file(root, _one(csv, file, name), TRAIN_PATTERNS, name)
    return _load(root, path, name, TRAIN_COLUMNS, with_overall=None, strict=strict, trust_symlinks=trust_symlinks)


def _one(csv: str | Path | None, file: str | Path | None, name: str) -> str | Path | None:
    if csv is not None and file is not None:
        raise DatasetError(f"{name}: give csv= or file=, not both")
    return csv if csv is not None else file


def _load(
    root: Path,
    path: Path,
    name: str,
    required: Sequence[str],
    *,
    with_overall: bool | None,
    strict: bool,
    trust_symlinks: bool,
) -> PairDataset:
    table: Table = read_table(path)
    require_columns(table, required, name)
    if with_overall is None:  # training CSV: use Overall only when the file happens to have it
        with_overall = table.columns is not None and "Overall" in table.columns
    resolve = VideoResolver(root, [path.parent, root, root / "videos"], trust_symlinks=trust_symlinks)

    def build(row: SourceRow) -> PairRecord:
        data = row.data or {}
        prompt = prompt_field(data)
        refs = [
            VideoRef(
                path=resolve(text_field(data, f"path_{s}")),
                fps=number_field(data, f"fps_{s}"),
                num_frames=number_field(data, f"num_frames_{s}", int),
                model=optional_text(data, f"{s}_model"),
            )
            for s in ("A", "B")
        ]
        labels = {key: label_field(data, key, required=True, words=VIDEOGEN_LABELS) for key in DIMENSION_COLUMNS}
        labels["OA"] = label_field(data, "Overall", required=True, words=VIDEOGEN_LABELS) if with_overall else None
        return PairRecord(
            pair_id=f"{name}/{row.number}",
            prompt=prompt,
            video_1=refs[0],
            video_2=refs[1],
            labels=labels,
            dimensions=VIDEOGEN_DIMENSIONS,
            meta={"dataset": name, **source_meta(table, row), "models": (refs[0].model, refs[1].model)},
        )

    return load_rows(table, build, name=name, strict=strict)
