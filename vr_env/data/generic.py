"""The ``generic`` dataset: users' own pairs in CSV / JSONL / JSON (row helpers: ``vr_env/data/rows.py``).

Generic format, one pair per row::

    {"id": "p1", "prompt": "a cat surfing", "video_1": "videos/a.mp4", "video_2": "videos/b.mp4",
     "TA": 1, "VQ": "B", "MQ": "same", "OA": "video 1"}

``prompt``, ``video_1``, ``video_2`` are required; ``TA``/``VQ``/``MQ``/``OA`` are optional and
accept ``1``/``2``/``0``, ``A``/``B``/``same``, ``video 1``/``video 2``/``tie`` (empty = not
labelled); optional ``id``, ``model_1``/``model_2``, ``fps_1``/``fps_2``,
``num_frames_1``/``num_frames_2``, ``TA_name``/``TA_explanation`` (same for VQ and MQ).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from vr_env.data.base import DatasetError, PairDataset, register_dataset
from vr_env.data.paths import VideoResolver, find_label_file, require_data_root
from vr_env.data.records import DIMENSION_KEYS, LABEL_KEYS, VIDEOGEN_DIMENSIONS, Dimension, PairRecord, VideoRef
from vr_env.data.rows import (
    SourceRow,
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


def dimensions_with_names(
    names: Mapping[str, str], explanations: Mapping[str, str] | None = None
) -> tuple[Dimension, ...]:
    """The VideoGen dimensions with some names / explanations replaced (keys stay TA / VQ / MQ)."""
    explanations = explanations or {}
    return tuple(
        Dimension(d.key, names.get(d.key) or d.name, explanations.get(d.key) or d.explanation)
        for d in VIDEOGEN_DIMENSIONS
    )


# ---- the generic format ----

GENERIC_PATTERNS: Sequence[str] = ("pairs.jsonl", "pairs.csv", "pairs.json", "*.jsonl", "*.csv", "*.json")
GENERIC_COLUMNS: Sequence[str] = ("prompt", "video_1", "video_2")


@register_dataset("generic")
def load_generic(
    data_root: Path | None,
    *,
    file: str | Path | None = None,
    dimension_names: Mapping[str, str] | None = None,
    strict: bool = False,
    trust_symlinks: bool = False,
    name: str = "generic",
) -> PairDataset:
    """Users' own pairs from a CSV / TSV / JSONL / JSON file under ``data_root``.

    ``file`` names the label file (default: ``pairs.jsonl``, ``pairs.csv``, ``pairs.json`` or the
    only ``*.jsonl`` / ``*.csv`` / ``*.json``). Video paths are relative to ``data_root``, then to
    the label file's folder. ``dimension_names`` renames TA / VQ / MQ for every row (a row's
    ``TA_name`` / ``TA_explanation`` columns win).
    """
    root = require_data_root(data_root, name, "a pairs.jsonl / pairs.csv label file and the videos it names")
    path = find_label_file(root, file, GENERIC_PATTERNS, name)
    table = read_table(path)
    require_columns(table, GENERIC_COLUMNS, name)
    resolve = VideoResolver(root, [root, path.parent], trust_symlinks=trust_symlinks)
    default_names = dict(dimension_names or {})
    unknown = set(default_names) - set(DIMENSION_KEYS)
    if unknown:
        raise DatasetError(f"{name}: dimension_names has unknown keys {sorted(unknown)}; use TA, VQ, MQ")
    dimension_cache: dict[tuple[tuple[tuple[str, str], ...], ...], tuple[Dimension, ...]] = {}

    def build(row: SourceRow) -> PairRecord:
        data = row.data or {}
        prompt = prompt_field(data)
        refs = [
            VideoRef(
                path=resolve(text_field(data, f"video_{i}")),
                fps=number_field(data, f"fps_{i}"),
                num_frames=number_field(data, f"num_frames_{i}", int),
                model=optional_text(data, f"model_{i}"),
            )
            for i in (1, 2)
        ]
        labels = {key: label_field(data, key, required=False) for key in LABEL_KEYS}
        names = {**default_names, **{k: v for k in DIMENSION_KEYS if (v := optional_text(data, f"{k}_name"))}}
        explanations = {k: v for k in DIMENSION_KEYS if (v := optional_text(data, f"{k}_explanation"))}
        cache_key = (tuple(sorted(names.items())), tuple(sorted(explanations.items())))
        if cache_key not in dimension_cache:
            dimension_cache[cache_key] = dimensions_with_names(names, explanations)
        pair_id = optional_text(data, "id") or f"{name}/{row.number}"
        return PairRecord(
            pair_id=pair_id,
            prompt=prompt,
            video_1=refs[0],
            video_2=refs[1],
            labels=labels,
            dimensions=dimension_cache[cache_key],
            meta={"dataset": name, **source_meta(table, row)},
        )

    return load_rows(table, build, name=name, strict=strict)
