"""``vr-env make-synthetic``: export the synthetic benchmark as mp4 files plus label files.

Writes ``DIR/videos/<pair_id>_A.mp4`` / ``_B.mp4``, ``DIR/synthetic.csv`` in the VideoGen-Reward
training-CSV format (labels ``A`` / ``B`` / ``same``, with the overall label in ``Overall`` so
``--dataset videogen-reward`` scores OA) and ``DIR/labels.jsonl`` (OA and defects). Progress is
printed to stderr every few seconds.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from vr_env.commands.argtypes import non_negative_int, positive_int
from vr_env.protocol.labels import DIMENSION_KEYS, LABEL_KEYS

HELP = "Export the synthetic benchmark as mp4 clips, a VideoGen-Reward CSV and labels.jsonl."

#: Column order of the VideoGen-Reward training CSV.
CSV_COLUMNS: tuple[str, ...] = (
    "path_A", "path_B", "prompt", "VQ", "MQ", "TA", "Overall", "fps_A", "num_frames_A", "fps_B", "num_frames_B",
)  # fmt: skip
#: Seconds between progress lines.
PROGRESS_EVERY = 2.0
LETTERS: dict[int, str] = {1: "A", 2: "B", 0: "same"}


def _fraction(low_open: bool) -> Any:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        too_low = value <= 0.0 if low_open else value < 0.0
        if too_low or value > 1.0 or value != value:
            raise argparse.ArgumentTypeError(f"must lie in {'(0' if low_open else '[0'}, 1], got {value}")
        return value

    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, type=Path, help="output folder (created if missing)")
    parser.add_argument("--n", required=True, type=positive_int, help="number of pairs")
    parser.add_argument("--seed", type=non_negative_int, default=0, help="benchmark seed (default 0)")
    parser.add_argument(
        "--defect-extent", type=_fraction(True), default=0.1, help="defect window as a fraction of the clip (0.1)"
    )
    parser.add_argument(
        "--defect-prob", type=_fraction(False), default=0.5, help="chance of defects per video and dimension (0.5)"
    )
    parser.add_argument("--num-frames", type=positive_int, default=96, help="raw frames per clip (96)")
    parser.add_argument("--fps", type=float, default=24.0, help="frames per second (24)")
    parser.add_argument("--size", type=positive_int, default=112, help="frame height and width in pixels (112)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing export in --out")


def run(args: argparse.Namespace) -> int:
    from vr_env.data.synthetic import SyntheticConfig, SyntheticDataset
    from vr_env.video.writer import write_mp4

    out: Path = Path(args.out)
    try:
        config = SyntheticConfig(
            n=args.n,
            seed=args.seed,
            defect_extent=args.defect_extent,
            defect_prob=args.defect_prob,
            num_frames=args.num_frames,
            fps=args.fps,
            height=args.size,
            width=args.size,
        )
        if config.n < 1:
            raise ValueError(f"--n must be >= 1, got {config.n}")
    except ValueError as exc:
        print(f"make-synthetic: error: {exc}", file=sys.stderr)
        return 2
    csv_path, jsonl_path = out / "synthetic.csv", out / "labels.jsonl"
    if not getattr(args, "force", False) and (csv_path.exists() or jsonl_path.exists()):
        print(f"make-synthetic: error: {out} already holds an export; pass --force to overwrite", file=sys.stderr)
        return 2
    dataset = SyntheticDataset(config)
    (out / "videos").mkdir(parents=True, exist_ok=True)
    rows, lines = [], []
    print(f"make-synthetic: writing {config.n} pairs ({2 * config.n} clips) to {out} ...", file=sys.stderr, flush=True)
    last = time.monotonic()
    for done, record in enumerate(dataset):
        if time.monotonic() - last >= PROGRESS_EVERY:
            print(f"make-synthetic: {done}/{config.n} pairs written", file=sys.stderr, flush=True)
            last = time.monotonic()
        paths = {}
        for side, ref in (("A", record.video_1), ("B", record.video_2)):
            relative = f"videos/{record.pair_id}_{side}.mp4"
            clip = ref.clip
            assert clip is not None
            write_mp4(out / relative, clip.render(np.arange(clip.num_frames)), clip.fps)
            paths[side] = relative
        rows.append(
            {
                "path_A": paths["A"],
                "path_B": paths["B"],
                "prompt": record.prompt,
                **{key: LETTERS[record.labels[key]] for key in DIMENSION_KEYS},  # type: ignore[index]
                "Overall": LETTERS[record.labels["OA"]],  # type: ignore[index]
                "fps_A": float(config.fps),
                "num_frames_A": float(config.num_frames),
                "fps_B": float(config.fps),
                "num_frames_B": float(config.num_frames),
            }
        )
        lines.append(
            {
                "pair_id": record.pair_id,
                "path_A": paths["A"],
                "path_B": paths["B"],
                "prompt": record.prompt,
                "labels": {key: LETTERS[record.labels[key]] for key in LABEL_KEYS},  # type: ignore[index]
                "scene": record.meta["scene"],
                "severity": {"A": record.meta["severity"]["video_1"], "B": record.meta["severity"]["video_2"]},
                "defects": {"A": record.meta["defects"]["video_1"], "B": record.meta["defects"]["video_2"]},
            }
        )
    with csv_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(CSV_COLUMNS))
        writer.writeheader()
        writer.writerows(rows)
    with jsonl_path.open("w", encoding="utf-8") as handle:
        for line in lines:
            handle.write(json.dumps(line, sort_keys=True) + "\n")
    print(f"wrote {len(rows)} pairs ({2 * len(rows)} clips) to {out}: videos/, {csv_path.name}, {jsonl_path.name}")
    return 0
