"""``vr-env train rs``: rejection sampling from a checkpoint, then SFT on the accepted samples."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vr_env.commands.evaluate import add_dataset_arguments, env_kwargs_from

HELP = "Sample K trajectories per pair, keep the well-formed all-correct ones, SFT on them (docs/training.md)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from agents.train.config import RejectionConfig, SFTRunConfig, add_dataclass_arguments

    parser.add_argument("--model", required=True, help="local model folder (the SFT checkpoint)")
    parser.add_argument("--out", required=True, type=Path, help="output folder (samples/ and the fine-tuned model)")
    parser.add_argument("--device", default=None, help="sampling device (default: cuda if present)")
    add_dataset_arguments(parser)
    add_dataclass_arguments(parser.add_argument_group("sampling"), RejectionConfig)
    add_dataclass_arguments(parser.add_argument_group("SFT on accepted samples"), SFTRunConfig, skip=("seed",))


def run(args: argparse.Namespace) -> int:
    from agents.train.config import RejectionConfig, SFTRunConfig, dataclass_from_args
    from agents.train.rejection import train_rs
    from agents.train.sft import ModelPathError

    try:
        sft_config = dataclass_from_args(SFTRunConfig, args)
        rs_config = dataclass_from_args(RejectionConfig, args)
        report, result = train_rs(
            args.model, env_kwargs_from(args), args.out, rs_config, sft_config, device=args.device
        )
    except (ModelPathError, FileNotFoundError, ValueError) as exc:
        print(f"train rs: error: {exc}", file=sys.stderr)
        return 2
    print(
        f"RS: {report.accepted}/{report.samples} accepted; fine-tuned on {result.examples} turns; model in {args.out}"
    )
    return 0
