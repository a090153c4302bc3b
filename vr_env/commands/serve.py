"""``vr-env serve``: the judge as an HTTP service (compare and group-score endpoints; docs/judge-service.md)."""

from __future__ import annotations

import argparse

from vr_env.commands.judge_args import add_judge_arguments, build_judge

HELP = "Serve a judge checkpoint over HTTP: batched compare and group-score endpoints (127.0.0.1 by default)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from agents.judge.config import ServeConfig
    from vr_env.commands.dataclass_args import add_dataclass_arguments

    add_judge_arguments(parser)
    add_dataclass_arguments(parser, ServeConfig)
    parser.add_argument("--log-level", default="info", help="uvicorn log level")


def missing_serve_extra() -> str | None:
    """The one-line fix when the web stack of the ``serve`` extra is not installed, else ``None``."""
    import importlib.util

    for module in ("fastapi", "uvicorn"):
        if importlib.util.find_spec(module) is None:
            return f"vr-env serve needs the serve extra (module {module!r} is not installed): pip install -e '.[train,serve]'"
    return None


def run(args: argparse.Namespace) -> int:
    import sys

    message = missing_serve_extra()
    if message is not None:
        print(f"error: {message}", file=sys.stderr)
        return 2
    from agents.judge.config import ServeConfig
    from agents.judge.server import serve
    from vr_env.commands.dataclass_args import from_args

    config = from_args(ServeConfig, args)
    judge = build_judge(args)
    where = f"http://{config.host}:{config.port}"
    root = config.video_root or "none (inline videos only)"
    print(f"serving {args.model} at {where} (OpenAPI: {where}/openapi.json; video root: {root})", flush=True)
    serve(judge, config, log_level=args.log_level)
    return 0
