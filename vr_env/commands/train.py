"""``vr-env train TRAINER ...``: dispatches to ``vr_env/commands/train_<trainer>.py`` (e.g. ``grpo``, ``sft``).

Each ``train_<name>`` module provides ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``,
like every other subcommand; they import torch and the trainers only inside ``run``.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil

HELP = "Train a judge: the trainers found as vr_env/commands/train_<name>.py (grpo, sft, rs, ...)."


def trainers() -> list[str]:
    """Names of the available ``train_<name>`` modules."""
    import vr_env.commands as commands

    return sorted(
        m.name[len("train_") :] for m in pkgutil.iter_modules(commands.__path__) if m.name.startswith("train_")
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="trainer", required=True, metavar="TRAINER")
    for name in trainers():
        module = importlib.import_module(f"vr_env.commands.train_{name}")
        command = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(command)
        command.set_defaults(_train_run=module.run)


def run(args: argparse.Namespace) -> int:
    return int(args._train_run(args) or 0)
