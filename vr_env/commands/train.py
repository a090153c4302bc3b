"""``vr-env train sft|rs``: supervised fine-tuning on traces, rejection-sampling fine-tuning."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vr_env.commands.evaluate import add_dataset_arguments, env_kwargs_from

HELP = "Train a VLM judge: 'sft' on cold-start traces, 'rs' (rejection sampling then SFT) from a checkpoint."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from agents.train.config import RejectionConfig, SFTRunConfig, add_dataclass_arguments

    stages = parser.add_subparsers(dest="stage", required=True, metavar="STAGE")
    sft = stages.add_parser("sft", help="SFT on trace files (every assistant turn in its windowed context)")
    sft.add_argument("--model", required=True, help="local model folder (image-text-to-text)")
    sft.add_argument("--traces", required=True, type=Path, help="traces.jsonl, or a folder of *.jsonl")
    sft.add_argument("--out", required=True, type=Path, help="output folder; a rerun resumes its last checkpoint")
    sft.add_argument("--no-resume", action="store_true", help="start over even if checkpoints exist")
    add_dataclass_arguments(sft.add_argument_group("SFT (defaults: the paper's)"), SFTRunConfig)
    rs = stages.add_parser("rs", help="sample K trajectories per pair, keep all-correct ones, SFT on them")
    rs.add_argument("--model", required=True, help="local model folder (the SFT checkpoint)")
    rs.add_argument("--out", required=True, type=Path, help="output folder (samples/ and the fine-tuned model)")
    rs.add_argument("--device", default=None, help="sampling device (default: cuda if present)")
    add_dataset_arguments(rs)
    add_dataclass_arguments(rs.add_argument_group("sampling"), RejectionConfig)
    add_dataclass_arguments(rs.add_argument_group("SFT on accepted samples"), SFTRunConfig, skip=("seed",))


def run(args: argparse.Namespace) -> int:
    from agents.train.config import RejectionConfig, SFTRunConfig, dataclass_from_args
    from agents.train.sft import ModelPathError

    try:
        sft_config = dataclass_from_args(SFTRunConfig, args)
        if args.stage == "sft":
            from agents.train.sft import train_sft

            result = train_sft(args.model, args.traces, args.out, sft_config, resume=not args.no_resume)
            losses = result.losses()
            trend = f"loss {losses[0]:.3f} -> {losses[-1]:.3f}" if losses else "no loss logged"
            print(f"trained on {result.examples} turns from {result.episodes} episodes ({trend}); model in {args.out}")
            if result.problems:
                print(f"{len(result.problems)} trace(s)/turn(s) skipped: see {args.out}/train_report.json")
            return 0
        from agents.train.rejection import train_rs

        rs_config = dataclass_from_args(RejectionConfig, args)
        report, result = train_rs(
            args.model, env_kwargs_from(args), args.out, rs_config, sft_config, device=args.device
        )
        print(
            f"RS: {report.accepted}/{report.samples} accepted; fine-tuned on {result.examples} turns; model in {args.out}"
        )
        return 0
    except (ModelPathError, FileNotFoundError, ValueError) as exc:
        print(f"train {args.stage}: error: {exc}", file=sys.stderr)
        return 2
