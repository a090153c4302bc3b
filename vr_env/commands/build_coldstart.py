"""``vr-env build-coldstart``: cold-start traces from a teacher, only well-formed all-correct episodes kept."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from vr_env.commands.argtypes import positive_int
from vr_env.commands.evaluate import add_dataset_arguments, env_kwargs_from, key_value

HELP = "Build cold-start SFT traces with a teacher (scanner, an HF VLM, an OpenAI-compatible endpoint)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--teacher",
        default="scanner",
        help="scanner | hf (local VLM, --model) | openai (endpoint, --model and --base-url) | any agent name or "
        "module:attr (default: scanner)",
    )
    parser.add_argument("--model", default=None, help="model folder (hf) or served model name (openai)")
    parser.add_argument("--base-url", default=None, help="OpenAI-compatible API base URL (openai teacher)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per endpoint request (openai, 300)")
    parser.add_argument("--max-new-tokens", type=positive_int, default=2048, help="tokens per teacher turn (2048)")
    parser.add_argument(
        "--agent-arg", action="append", type=key_value, default=[], metavar="KEY=VALUE", help="teacher option"
    )
    add_dataset_arguments(parser)
    parser.add_argument("--limit", type=int, default=None, help="play only the first N pairs")
    parser.add_argument("--shuffle", action="store_true", help="take the pairs in a seeded random order")
    parser.add_argument("--swap-check", action="store_true", help="also play every pair with the videos swapped")
    parser.add_argument("--num-envs", type=positive_int, default=1, help="environments stepped side by side (1)")
    parser.add_argument("--seed", type=int, default=0, help="run seed (0)")
    parser.add_argument("--out", required=True, type=Path, help="output folder: traces.jsonl, report.md; resumable")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def teacher_spec(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    """The registry agent name and its options for ``--teacher``."""
    options: dict[str, Any] = dict(args.agent_arg)
    if args.teacher == "openai":
        if not args.model:
            raise ValueError("--teacher openai needs --model (the served model name, e.g. gpt-4o)")
        options.update(model_path=args.model, backend="openai", max_new_tokens=args.max_new_tokens)
        options["timeout"] = args.timeout
        if args.base_url:
            options["base_url"] = args.base_url
        return "hf", options
    if args.teacher == "hf":
        if not args.model:
            raise ValueError("--teacher hf needs --model (a local model folder)")
        if not Path(args.model).exists():
            raise ValueError(f"model path {args.model} does not exist (nothing is downloaded: give a local folder)")
        options.update(model_path=args.model, max_new_tokens=args.max_new_tokens)
    elif args.model:
        options["model_path"] = args.model
    return args.teacher, options


def run(args: argparse.Namespace) -> int:
    from vr_env.data.base import DatasetError

    try:
        teacher, options = teacher_spec(args)
        from agents.train.traces import build_traces

        report = build_traces(
            teacher,
            env_kwargs_from(args),
            out_dir=args.out,
            limit=args.limit,
            agent_kwargs=options,
            seed=args.seed,
            shuffle=args.shuffle,
            swap_check=args.swap_check,
            num_envs=args.num_envs,
            progress=not args.no_progress,
        )
    except (DatasetError, ValueError, TypeError) as exc:
        print(f"build-coldstart: error: {exc}", file=sys.stderr)
        return 2
    print(report.markdown())
    print(f"wrote {report.kept} traces to {args.out}/traces.jsonl (report: {args.out}/report.md)")
    if report.teacher_error:
        print(f"build-coldstart: the teacher failed: {report.teacher_error}; rerun to resume", file=sys.stderr)
        return 1
    return 0
