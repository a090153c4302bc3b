"""``vr-env train grpo``: windowed multi-turn GRPO against the environment's rewards (stage III).

Flags come from ``agents.train.grpo.settings`` (the trainer's own fields and the paper's values of
TRL's); ``--config FILE`` (JSON) sets any other ``GRPOConfig`` field. torch, TRL and the trainer are
imported only when the command runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

HELP = "GRPO on the environment's rewards: windowed multi-turn rows, the paper's reward, dynamic sampling."

#: Small settings for a CPU run with a tiny model: a few steps in a minute or two.
CPU_DEMO: dict[str, Any] = {
    "max_steps": 4,
    "num_generations": 4,
    "per_device_train_batch_size": 4,
    "max_completion_length": 48,
    "learning_rate": 1e-3,
    "logging_steps": 1,
    "save_steps": 2,
    "env_kwargs": {"frames_per_video": 16, "max_tool_calls": 2, "memory_window": 1},
    "demo_script_share": 0.5,
    "max_refill_rounds": 1,
}


def _type(annotation: Any) -> Any:
    text = str(annotation)
    return int if "int" in text else float if "float" in text else str


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from agents.train.grpo.settings import PAPER_TRL_DEFAULTS, TRL_FLAGS, WindowedSettings

    parser.add_argument("--model", required=True, help="policy checkpoint folder (e.g. ckpt/rs), or tiny[:qwen3_vl]")
    parser.add_argument("--out", required=True, help="output folder: checkpoints, final model, metrics, reward curve")
    parser.add_argument("--config", type=Path, help="JSON file of further WindowedGRPOConfig / GRPOConfig fields")
    parser.add_argument("--preset", choices=("paper", "cpu-demo"), default="paper", help="defaults to start from")
    parser.add_argument("--resume", action="store_true", help="resume from the newest checkpoint in --out")
    own = parser.add_argument_group("environment and sampling")
    for f in fields(WindowedSettings):
        flag = "--" + f.name.replace("_", "-")
        default = f.default if f.default is not MISSING else "{}"
        help_text = f"{f.metadata.get('help', '')} (default: {default})"
        if f.type in ("bool", bool):
            own.add_argument(flag, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS, help=help_text)
        else:
            own.add_argument(flag, type=_type(f.type), default=argparse.SUPPRESS, help=help_text, metavar="X")
    trl = parser.add_argument_group("TRL GRPOConfig fields")
    options = {name: (typ, f"{text} (default: {default})") for name, (default, typ, text) in PAPER_TRL_DEFAULTS.items()}
    options.update(TRL_FLAGS)
    for name, (typ, help_text) in options.items():
        flag = "--" + name.replace("_", "-")
        if typ is bool:
            trl.add_argument(flag, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS, help=help_text)
        else:
            trl.add_argument(flag, type=typ, default=argparse.SUPPRESS, help=help_text, metavar="X")


def config_values(args: argparse.Namespace) -> dict[str, Any]:
    """Preset, then ``--config`` file, then flags."""
    from agents.train.grpo.settings import PAPER_TRL_DEFAULTS, TRL_FLAGS, WindowedSettings

    values: dict[str, Any] = dict(CPU_DEMO) if args.preset == "cpu-demo" else {}
    if args.config is not None:
        try:
            loaded = json.loads(Path(args.config).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise ValueError(f"cannot read --config {args.config}: {error}") from None
        if not isinstance(loaded, dict):
            raise ValueError(f"--config {args.config} must hold a JSON object of config fields")
        values.update(loaded)
    names = {f.name for f in fields(WindowedSettings)} | set(PAPER_TRL_DEFAULTS) | set(TRL_FLAGS)
    values.update({name: getattr(args, name) for name in names if hasattr(args, name)})
    values["output_dir"] = args.out
    return values


def _server_error() -> type[Exception]:
    """The error of an unreachable vLLM server (TRL's client raises requests' ``ConnectionError``)."""
    try:
        from requests.exceptions import ConnectionError as RequestsConnectionError
    except ImportError:
        return ConnectionError
    return RequestsConnectionError


def run(args: argparse.Namespace) -> int:
    import torch

    from agents.train.grpo.config import WindowedGRPOConfig
    from agents.train.grpo.run import run_grpo

    try:
        values = config_values(args)
        if not torch.cuda.is_available():
            values.setdefault("use_cpu", True)
            values["bf16"] = False
        values.setdefault("report_to", [])
        config = WindowedGRPOConfig(**values)
    except (ValueError, TypeError) as error:
        print(f"vr-env train grpo: {error}", file=sys.stderr)
        return 2
    try:
        summary = run_grpo(config, args.model, resume=args.resume)
    except (FileNotFoundError, ImportError, ConnectionError) as error:  # no checkpoint; use_vllm without vLLM
        print(f"vr-env train grpo: {error}", file=sys.stderr)
        return 2
    except _server_error() as error:  # use_vllm: the server cannot be reached
        print(f"vr-env train grpo: {error}", file=sys.stderr)
        return 2
    from agents.train.process_group import close_process_group

    close_process_group()
    if summary.pop("main_process", True):
        print(json.dumps(summary, indent=2))
    return 0
