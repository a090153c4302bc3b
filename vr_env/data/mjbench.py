"""MJ-Bench-Video test set (``mjbench-video``): ``test.json`` from aiming-lab/MJ-Video.

Each item has ``caption, video_0_path, video_1_path, overall_preference`` and a
``category_preference`` object. MJ-Bench's ``video_0`` is our ``video_1`` and its ``video_1`` our
``video_2``. Labels: ``overall_preference`` -> OA, and from ``category_preference``: Alignment ->
TA, Fineness -> VQ, "Coherence & Consistency" -> MQ. Values: "Video 1 better" (any case) -> 1,
"Video 2 better" -> 2, "Same" and "Hard to judge" -> 0. Safety and Bias are kept in ``meta``.
Items with ``discard: true`` are left out unless ``include_discarded``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vr_env.data.base import PairDataset, register_dataset
from vr_env.data.paths import VideoResolver, find_label_file, require_data_root, resolve_subdir
from vr_env.data.problems import BAD_VALUE, MISSING_FIELD, RowError
from vr_env.data.records import Dimension, PairRecord, VideoRef
from vr_env.data.rows import (
    SourceRow,
    Table,
    label_field,
    load_rows,
    prompt_field,
    read_table,
    source_meta,
    text_field,
)

DATASET = "mjbench-video"
MJ_LABELS = {"video 1 better": 1, "video 2 better": 2, "same": 0, "hard to judge": 0}
#: category_preference key for each protocol key.
CATEGORIES = {"TA": "Alignment", "VQ": "Fineness", "MQ": "Coherence & Consistency"}
MJBENCH_DIMENSIONS: tuple[Dimension, ...] = (
    Dimension(
        "TA", "Alignment", "How well the video follows the caption: objects, attributes, actions, counts, locations."
    ),
    Dimension("VQ", "Fineness", "Visual fidelity: no distorted faces, limbs or objects, no defocus or motion blur."),
    Dimension(
        "MQ",
        "Coherence & Consistency",
        "Temporal coherence: spatial consistency, continuous actions, no vanishing objects, background jumps, "
        "lighting changes, flicker or drift.",
    ),
)
PATTERNS = ("test.json", "datas/test.json", "*.json")


@register_dataset(DATASET)
def load_mjbench_video(
    data_root: Path | None,
    *,
    file: str | Path | None = None,
    videos_dir: str | Path | None = None,
    include_discarded: bool = False,
    strict: bool = False,
    trust_symlinks: bool = False,
) -> PairDataset:
    """MJ-Bench-Video ``test.json``; video paths (``test/0_0.mp4``) resolve under ``data_root``
    (then ``data_root/videos``), or under ``videos_dir`` first when given."""
    root = require_data_root(data_root, DATASET, "test.json and the video folders it names (test/...)")
    path = find_label_file(root, file, PATTERNS, DATASET)
    table = read_table(path)
    if not include_discarded:
        table = Table(table.path, table.columns, [r for r in table.rows if not (r.data or {}).get("discard")])
    bases = [resolve_subdir(root, videos_dir, DATASET, trust_symlinks=trust_symlinks), root, root / "videos"]
    resolve = VideoResolver(root, bases, trust_symlinks=trust_symlinks)

    def build(row: SourceRow) -> PairRecord:
        data = row.data or {}
        prompt = prompt_field(data, "caption")
        refs = [VideoRef(path=resolve(text_field(data, key))) for key in ("video_0_path", "video_1_path")]
        categories = _categories(data)
        labels = {key: label_field(categories, cat, required=True, words=MJ_LABELS) for key, cat in CATEGORIES.items()}
        labels["OA"] = label_field(data, "overall_preference", required=True, words=MJ_LABELS)
        return PairRecord(
            pair_id=f"{DATASET}/{row.number - 1}",
            prompt=prompt,
            video_1=refs[0],
            video_2=refs[1],
            labels=labels,
            dimensions=MJBENCH_DIMENSIONS,
            meta={
                "dataset": DATASET,
                **source_meta(table, row),
                "overall_preference": data["overall_preference"],
                "category_preference": dict(categories),
                "total_scores": (data.get("video_0_total_score"), data.get("video_1_total_score")),
            },
        )

    return load_rows(table, build, name=DATASET, strict=strict)


def _categories(data: Mapping[str, Any]) -> Mapping[str, Any]:
    categories = data.get("category_preference")
    if categories is None:
        raise RowError(MISSING_FIELD, "no value for 'category_preference'")
    if not isinstance(categories, Mapping):
        raise RowError(BAD_VALUE, f"category_preference is {type(categories).__name__}, expected an object")
    return categories
