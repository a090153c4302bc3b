"""``vr-env validate-data``: load a dataset, check every row and video, print the problems.

Exit status: 0 no problem, 1 problems found, 2 the dataset could not be loaded at all.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

HELP = "Check a dataset's label file and every video it names; exit non-zero on problems."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True, help="registered dataset name, e.g. videogen-rewardbench")
    parser.add_argument("--data-root", default=None, help="folder holding the label file and the videos")
    parser.add_argument("--file", default=None, help="label file to read instead of the dataset's default")
    parser.add_argument(
        "--videos-dir", default=None, help="videos folder under the data root (genai-bench, mjbench-video)"
    )
    parser.add_argument("--decode", action="store_true", help="also open every video with the video layer")
    parser.add_argument("--no-videos", action="store_true", help="check rows only, not the video files")
    parser.add_argument(
        "--trust-symlinks", action="store_true", help="accept symlinks under the data root that point elsewhere"
    )
    parser.add_argument("--json", action="store_true", help="print the full report as JSON")
    parser.add_argument("--max-listed", type=int, default=10, help="problems listed per kind (0 = all)")


def run(args: argparse.Namespace) -> int:
    from vr_env.data.base import DatasetError, load_dataset
    from vr_env.data.validate import validate_dataset

    kwargs: dict[str, Any] = {}
    if args.file is not None:
        kwargs["file"] = args.file
    if args.videos_dir is not None:
        kwargs["videos_dir"] = args.videos_dir
    if args.trust_symlinks:
        kwargs["trust_symlinks"] = True
    try:
        dataset = load_dataset(args.dataset, args.data_root, **kwargs)
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except TypeError as exc:  # an option the chosen loader does not take
        print(f"error: dataset {args.dataset!r} does not accept these options ({exc})", file=sys.stderr)
        return 2
    try:
        report = validate_dataset(
            dataset,
            check_videos=not args.no_videos,
            decode=args.decode,
            data_root=args.data_root,
            trust_symlinks=args.trust_symlinks,
        )
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(report.to_json() if args.json else report.summary(max_listed=args.max_listed))
    return 0 if report.ok else 1
