"""The ``vr-env`` command line. Each subcommand lives in ``vr_env/commands/<name>.py`` and provides
``HELP: str``, ``add_arguments(parser)`` and ``run(args) -> int``."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

COMMANDS: dict[str, str] = {
    "demo": "vr_env.commands.demo",
    "make-synthetic": "vr_env.commands.make_synthetic",
    "validate-data": "vr_env.commands.validate_data",
    "eval": "vr_env.commands.evaluate",
    "merge-shards": "vr_env.commands.merge_shards",
    "play": "vr_env.commands.play",
    "make-tiny-model": "vr_env.commands.make_tiny_model",
    "pretrain-base": "vr_env.commands.pretrain_base",
    "build-coldstart": "vr_env.commands.build_coldstart",
    "train": "vr_env.commands.train",
    "serve": "vr_env.commands.serve",
    "score-pairs": "vr_env.commands.score_pairs",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vr-env", description="VR-Thinker video-pair judging environment.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        command = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(command)
        command.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except ModuleNotFoundError as exc:  # an optional extra is missing: say which, and how to install it
        from vr_env.commands.extras import missing_extra_message

        message = missing_extra_message(exc, f"vr-env {args.command}")
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
