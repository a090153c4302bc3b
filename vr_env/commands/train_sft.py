"""``vr-env train sft``: supervised fine-tuning on traces, every assistant turn in its windowed context."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "SFT on trace files (every assistant turn in its windowed context; docs/training.md)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from agents.train.config import SFTRunConfig, add_dataclass_arguments

    parser.add_argument("--model", required=True, help="local model folder (image-text-to-text)")
    parser.add_argument("--traces", required=True, type=Path, help="traces.jsonl, or a folder of *.jsonl")
    parser.add_argument("--out", required=True, type=Path, help="output folder; a rerun resumes its last checkpoint")
    parser.add_argument("--no-resume", action="store_true", help="start over even if checkpoints exist")
    add_dataclass_arguments(parser.add_argument_group("SFT (defaults: the paper's)"), SFTRunConfig)


def run(args: argparse.Namespace) -> int:
    from agents.train.config import SFTRunConfig, dataclass_from_args
    from agents.train.sft import ModelPathError, train_sft

    try:
        config = dataclass_from_args(SFTRunConfig, args)
        result = train_sft(args.model, args.traces, args.out, config, resume=not args.no_resume)
    except (ModelPathError, FileNotFoundError, ValueError) as exc:
        print(f"train sft: error: {exc}", file=sys.stderr)
        return 2
    from agents.train.process_group import close_process_group

    close_process_group()
    losses = result.losses()
    trend = f"loss {losses[0]:.3f} -> {losses[-1]:.3f}" if losses else "no loss logged"
    print(f"trained on {result.examples} turns from {result.episodes} episodes ({trend}); model in {args.out}")
    if result.problems:
        print(f"{len(result.problems)} trace(s)/turn(s) skipped: see {args.out}/train_report.json")
    return 0
