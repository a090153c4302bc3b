"""``vr-env merge-shards``: merge the shard folders of ``vr-env eval --shard I/N`` into one folder.

The merged folder holds what one process would have written (``results.jsonl`` in run order,
``metrics.json``, ``report.md``, plots, ``config.json``). Shards of different evaluations, a shard
given twice or missing, an episode in two shards and unfinished shards are refused with exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "Merge the shard folders of `vr-env eval --shard I/N` into one evaluation folder."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out", type=Path, help="merged output folder (the --out the shards were run with)")
    parser.add_argument(
        "shard_dirs",
        nargs="*",
        type=Path,
        metavar="SHARD_DIR",
        help="shard folders to merge (default: every folder under OUT/shards)",
    )
    parser.add_argument("--overwrite", action="store_true", help="discard rows already in OUT instead of keeping them")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")


def run(args: argparse.Namespace) -> int:
    from vr_env.eval.merge import ShardMergeError, merge_shard_folders
    from vr_env.eval.report import pct
    from vr_env.eval.results import EvalConfigError

    try:
        metrics = merge_shard_folders(args.out, args.shard_dirs, plots=not args.no_plots, overwrite=args.overwrite)
    except ShardMergeError as exc:
        print(f"merge-shards: error: {exc}", file=sys.stderr)
        return 2
    except EvalConfigError as exc:
        print(f"merge-shards: error: {exc} (pass --overwrite to replace it)", file=sys.stderr)
        return 2
    print(
        f"{metrics['agent']} on {metrics['dataset']}: n={metrics['n']}, tau {pct(metrics['tau'])}, "
        f"diff {pct(metrics['diff'])}; {metrics['skipped']} skipped"
    )
    print(f"wrote {args.out}/results.jsonl, metrics.json, report.md")
    return 0
