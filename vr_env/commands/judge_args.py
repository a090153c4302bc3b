"""Options shared by ``vr-env serve`` and ``vr-env score-pairs``: the checkpoint, its backend, the judge."""

from __future__ import annotations

import argparse
from typing import Any

from vr_env.commands.dataclass_args import add_dataclass_arguments, from_args
from vr_env.commands.evaluate import key_value

DEMO_HELP = (
    "for demos with an untrained (tiny) model only: force this final answer body, e.g. "
    "'TA=1, VQ=1, MQ=0, OA=1' (forced token ids; forward passes stay real; transformers backend)"
)


def add_judge_arguments(parser: argparse.ArgumentParser) -> None:
    from agents.judge.config import JudgeConfig

    parser.add_argument("--model", required=True, help="checkpoint folder (or served model name for --backend openai)")
    parser.add_argument("--backend", default="transformers", choices=("transformers", "vllm", "openai"))
    parser.add_argument("--device", default=None, help="transformers device (default: cuda if available, else cpu)")
    parser.add_argument("--dtype", default=None, help="model dtype: auto, bfloat16, float32, ...")
    parser.add_argument(
        "--backend-arg", action="append", type=key_value, default=[], metavar="KEY=VALUE",
        help="backend option, repeatable (e.g. base_url=http://127.0.0.1:8001/v1, gpu_memory_utilization=0.8)",
    )  # fmt: skip
    parser.add_argument(
        "--env-arg", action="append", type=key_value, default=[], metavar="KEY=VALUE",
        help="VRJudge-v0 option (EnvConfig field), repeatable (e.g. frames_per_video=48)",
    )  # fmt: skip
    add_dataclass_arguments(parser, JudgeConfig, skip=("env",))
    parser.add_argument("--demo-answer", default=None, metavar="ANSWER", help=DEMO_HELP)


def build_judge(args: argparse.Namespace) -> Any:
    """The :class:`agents.judge.Judge` the flags describe (imports torch / the backend now)."""
    from agents.judge.config import JudgeConfig
    from agents.judge.judge import Judge

    config = from_args(JudgeConfig, args, env=dict(args.env_arg))
    kwargs: dict[str, Any] = dict(args.backend_arg)
    if args.backend == "transformers":
        kwargs.update(device=args.device, dtype=args.dtype)
    elif args.dtype is not None:
        kwargs["dtype"] = args.dtype
    script = None
    if args.demo_answer is not None:
        text = f"<Snapshot>demo</Snapshot><Think>demo</Think><Answer>{args.demo_answer}</Answer>"

        def script(record: Any, turn: int) -> str:
            return text

    return Judge.from_pretrained(args.model, backend=args.backend, config=config, script=script, **kwargs)
