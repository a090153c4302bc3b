"""GenAI-Bench video-generation votes (``genai-bench``): one overall human vote per pair.

Two layouts, under ``data_root``:

* the JSON copy (``data.json``, or a ``.jsonl`` with the same keys): ``id, prompt, video_left,
  video_right, vote_type``, video values are file names;
* the published Hugging Face layout (TIGER-Lab/GenAI-Bench, config ``video_generation``:
  ``video_generation/train-*.parquet``): ``prompt, left_model, left_video, right_model,
  right_video, vote_type``; video values that are URLs are looked up by their file name.

Votes: ``leftvote`` -> 1, ``rightvote`` -> 2, ``tievote`` and ``bothbad_vote`` -> 0 (the raw vote
stays in ``meta["vote_type"]``). Only ``OA`` is labelled. The left video is ``video_1``.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

from vr_env.data.base import PairDataset, register_dataset
from vr_env.data.paths import VideoResolver, find_label_file, require_data_root, resolve_subdir
from vr_env.data.records import VIDEOGEN_DIMENSIONS, PairRecord, VideoRef
from vr_env.data.rows import (
    SourceRow,
    first_key,
    label_field,
    load_rows,
    optional_text,
    prompt_field,
    read_table,
    require_columns,
    source_meta,
    text_field,
)

VOTES = {"leftvote": 1, "rightvote": 2, "tievote": 0, "bothbad_vote": 0}
PATTERNS = ("data.json", "*.jsonl", "video_generation/*.parquet", "*.parquet")
DATASET = "genai-bench"


def _video_name(value: str) -> str:
    """A URL becomes its file name (videos are expected to be downloaded under data_root)."""
    if "://" in value:
        return PurePosixPath(urlparse(value).path).name
    return value


@register_dataset(DATASET)
def load_genai_bench(
    data_root: Path | None,
    *,
    file: str | Path | None = None,
    videos_dir: str | Path = "videos",
    strict: bool = False,
    trust_symlinks: bool = False,
) -> PairDataset:
    """GenAI-Bench video votes; videos are looked up in ``data_root/videos_dir`` then ``data_root``."""
    root = require_data_root(data_root, DATASET, "data.json (or video_generation/*.parquet) and a videos/ folder")
    path = find_label_file(root, file, PATTERNS, DATASET)
    table = read_table(path)
    if table.columns is not None:
        header = dict.fromkeys(table.columns)
        videos = [first_key(header, f"{side}_video", f"video_{side}") for side in ("left", "right")]
        require_columns(table, ("prompt", *videos, "vote_type"), DATASET)
    resolve = VideoResolver(
        root,
        [resolve_subdir(root, videos_dir, DATASET, trust_symlinks=trust_symlinks), root],
        trust_symlinks=trust_symlinks,
    )

    def build(row: SourceRow) -> PairRecord:
        data = row.data or {}
        prompt = prompt_field(data)
        refs = []
        for side in ("left", "right"):
            raw = text_field(data, first_key(data, f"{side}_video", f"video_{side}"))
            refs.append(VideoRef(path=resolve(_video_name(raw)), model=optional_text(data, f"{side}_model")))
        vote = label_field(data, "vote_type", required=True, words=VOTES)
        item_id = optional_text(data, "id")
        return PairRecord(
            pair_id=f"{DATASET}/{item_id if item_id is not None else row.number}",
            prompt=prompt,
            video_1=refs[0],
            video_2=refs[1],
            labels={"TA": None, "VQ": None, "MQ": None, "OA": vote},
            dimensions=VIDEOGEN_DIMENSIONS,
            meta={
                "dataset": DATASET,
                **source_meta(table, row),
                "vote_type": str(data["vote_type"]).strip(),
                "models": (refs[0].model, refs[1].model),
            },
        )

    return load_rows(table, build, name=DATASET, strict=strict)
