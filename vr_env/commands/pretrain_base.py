"""``vr-env pretrain-base``: rebuild the miniature base (a tiny Qwen2.5-VL pretrained to see the defects)."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "Pretrain the miniature base: vision tower, then alignment through the language model (docs/mini-vrthinker.md)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from agents.pretrain.base import BaseConfig
    from vr_env.commands.dataclass_args import add_dataclass_arguments

    parser.add_argument("--out", required=True, type=Path, help="output folder (a Hugging Face checkpoint)")
    add_dataclass_arguments(parser, BaseConfig)


def run(args: argparse.Namespace) -> int:
    from agents.pretrain.base import BaseConfig, build_base
    from vr_env.commands.dataclass_args import from_args
    from vr_env.commands.extras import require_train_extra

    require_train_extra("vr-env pretrain-base")
    report = build_base(args.out, from_args(BaseConfig, args))
    print(
        f"held-out single frames {report['frame_accuracy']:.3f}, pair views {report['view_accuracy']:.3f}, "
        f"{report['seconds']:.0f} s; model in {args.out}"
    )
    return 0
