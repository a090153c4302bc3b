"""``vr-env make-tiny-model``: a tiny random-weight Qwen-VL checkpoint for offline tests and demos."""

from __future__ import annotations

import argparse

HELP = "Build a tiny random-weight Qwen2.5-VL / Qwen3-VL checkpoint (with tokenizer and processor) for offline tests."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--arch", choices=("qwen2_5_vl", "qwen3_vl"), default="qwen2_5_vl", help="model family")
    parser.add_argument("--out", required=True, help="output folder (created)")
    parser.add_argument("--seed", type=int, default=0, help="weight seed (same seed, same bytes)")


def run(args: argparse.Namespace) -> int:
    from agents.tiny import build_tiny_model, checkpoint_parameter_count

    out = build_tiny_model(args.arch, args.out, seed=args.seed)
    print(f"wrote a {args.arch} tiny model ({checkpoint_parameter_count(out):,} parameters) to {out}")
    return 0
