"""``vr-env eval``: run an agent over a benchmark and write results, metrics, a report and plots.

Outputs in ``--out``: ``results.jsonl`` (one row per episode, appended as it goes; a rerun resumes),
``metrics.json``, ``report.md``, ``per_dimension.png``, ``accuracy_vs_tool_calls.png``,
``accuracy_by_length.png`` and ``config.json``. See docs/evaluation.md.

Under ``torchrun`` / ``accelerate launch`` (world size > 1) each process evaluates one shard of the
pairs (``--out/shards/RANK-of-WORLD``, resumable) with its own copy of the model (``--agent hf``:
on ``cuda:LOCAL_RANK``) and rank 0 writes the merged folder. ``--shard I/N`` plays one shard in an
independent process (job arrays); ``vr-env merge-shards`` merges the shard folders.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from vr_env.commands.argtypes import positive_int

HELP = "Evaluate an agent on a dataset: results.jsonl, metrics.json, report.md and plots in --out."
#: Episodes a Hugging Face judge plays side by side by default (its turns are generated as one batch).
HF_NUM_ENVS = 8
#: Turn records of ``--save-records``, in the format SFT, rejection sampling and GRPO read.
RECORDS_FILE = "records.jsonl"


def key_value(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` with VALUE read as JSON when it parses (numbers, true, lists), else as text."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    return key.strip(), value


def add_dataset_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared with ``vr-env play``: dataset, data root, dataset and env options."""
    parser.add_argument("--dataset", default="synthetic", help="registered dataset name (default: synthetic)")
    parser.add_argument("--data-root", default=None, help="folder holding the dataset's label file and videos")
    parser.add_argument(
        "--dataset-arg",
        action="append",
        type=key_value,
        default=[],
        metavar="KEY=VALUE",
        help="dataset option, repeatable (e.g. n=64, file=test.csv)",
    )
    parser.add_argument(
        "--env-arg",
        action="append",
        type=key_value,
        default=[],
        metavar="KEY=VALUE",
        help="environment option (EnvConfig field), repeatable (e.g. frames_per_video=16)",
    )
    parser.add_argument(
        "--protocol",
        default=None,
        metavar="NAME_OR_PATH",
        help="protocol template: a built-in name (default) or a .toml file (docs/protocol.md)",
    )


def env_kwargs_from(args: argparse.Namespace) -> dict[str, Any]:
    kwargs: dict[str, Any] = dict(args.env_arg)
    kwargs.update(dataset=args.dataset, data_root=args.data_root)
    if getattr(args, "protocol", None) is not None:
        kwargs["protocol_template"] = args.protocol
    if args.dataset_arg:
        kwargs["dataset_kwargs"] = {**kwargs.get("dataset_kwargs", {}), **dict(args.dataset_arg)}
    return kwargs


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--agent",
        required=True,
        help="random, answer-now, scanner, human, hf (with --model) or module:attr / file.py:attr",
    )
    add_dataset_arguments(parser)
    parser.add_argument("--model", default=None, help="model folder or hub id for --agent hf")
    parser.add_argument(
        "--agent-arg",
        action="append",
        type=key_value,
        default=[],
        metavar="KEY=VALUE",
        help="agent option, repeatable (e.g. backend=vllm, max_batch_size=8)",
    )
    parser.add_argument("--limit", type=int, default=None, help="evaluate only the first N pairs")
    parser.add_argument("--shuffle", action="store_true", help="take the pairs in a seeded random order")
    parser.add_argument("--swap-check", action="store_true", help="also judge every pair with the videos swapped")
    parser.add_argument(
        "--num-envs",
        type=positive_int,
        default=None,
        help=f"episodes played side by side, one generation batch per turn ({HF_NUM_ENVS} for --agent hf, else 1)",
    )
    parser.add_argument("--seed", type=int, default=0, help="run seed: agents, episodes, --shuffle (0)")
    parser.add_argument("--out", required=True, type=Path, help="output folder; a rerun resumes into it")
    parser.add_argument("--overwrite", action="store_true", help="discard earlier results in --out")
    parser.add_argument("--retry-skipped", action="store_true", help="run pairs skipped earlier again")
    parser.add_argument("--save-turns", action="store_true", help="keep the agent's turn texts in results.jsonl")
    parser.add_argument(
        "--save-records",
        action="store_true",
        help=f"also append every episode's turn records (the trainers' input format, docs/vlm.md) to --out/{RECORDS_FILE}",
    )
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--prefetch-workers",
        type=int,
        default=None,
        metavar="N",
        help="threads decoding upcoming pairs while episodes run (0: off; default: the cores, at most 4; docs/video.md)",
    )
    parser.add_argument(
        "--convert-ahead",
        action="store_true",
        help="prefetch workers also convert every candidate frame at the tool's budget, so tool calls never "
        "wait on a conversion (for a policy slower than decoding; more CPU and memory; docs/video.md)",
    )
    parser.add_argument(
        "--shard",
        type=shard_arg,
        default=None,
        metavar="I/N",
        help="play only shard I (0-based) of N into --out/shards/I-of-N (job arrays; vr-env merge-shards merges them)",
    )


def shard_arg(text: str) -> Any:
    from vr_env.eval.shards import Shard

    try:
        return Shard.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def prefetch_config(workers: int | None, convert_ahead: bool) -> Any:
    """``--prefetch-workers`` and ``--convert-ahead`` as the driver's ``PrefetchConfig``."""
    from dataclasses import replace

    from vr_env.video.prefetch import PrefetchConfig

    config = PrefetchConfig.of(workers)
    if not convert_ahead:
        return config
    if not config.enabled:
        raise ValueError("--convert-ahead needs prefetch workers (--prefetch-workers >= 1)")
    return replace(config, convert_ahead=True)


def _args_dict(args: argparse.Namespace) -> dict[str, Any]:
    from vr_env.eval.shards import Shard

    def plain(value: Any) -> Any:
        if isinstance(value, Shard):
            return f"{value.index}/{value.count}"
        return str(value) if isinstance(value, Path) else value

    return {k: plain(v) for k, v in vars(args).items() if not k.startswith("_")}


def run(args: argparse.Namespace) -> int:
    from vr_env.commands.eval_checks import (
        TurnProgress,
        cpu_generation_note,
        limit_problem,
        model_problem,
        overwrite_hint,
    )
    from vr_env.data.base import DatasetError
    from vr_env.eval.parallel import detect_launch
    from vr_env.eval.report import pct
    from vr_env.eval.runner import EvalConfigError, evaluate
    from vr_env.eval.shards import Shard

    agent_kwargs: dict[str, Any] = dict(args.agent_arg)
    problem = limit_problem(args.limit) or model_problem(args.model, agent_kwargs.get("backend"))
    if problem is not None:
        print(f"eval: error: {problem}", file=sys.stderr)
        return 2
    if args.model is not None:
        agent_kwargs["model_path"] = args.model
    if args.num_envs is None:
        args.num_envs = HF_NUM_ENVS if args.agent == "hf" else 1
    try:
        launch = detect_launch()
    except ValueError as exc:
        print(f"eval: error: {exc}", file=sys.stderr)
        return 2
    if launch is not None and args.shard is not None:
        print("eval: error: a multi-process launch shards the pairs by rank already: drop --shard", file=sys.stderr)
        return 2
    if launch is not None and args.agent == "human":
        print("eval: error: --agent human cannot run in a multi-process launch", file=sys.stderr)
        return 2
    if launch is not None and args.agent == "hf":
        local_device(agent_kwargs, launch.local_rank)
    shard = args.shard if launch is None else Shard(launch.rank, launch.world_size)
    folder = Path(args.out) if shard is None else shard.folder(args.out)
    note = cpu_generation_note(args.agent, agent_kwargs)
    if note is not None:
        print(note, file=sys.stderr)
    if args.agent == "human" and args.num_envs > 1:
        print("eval: error: --agent human plays one episode at a time (--num-envs 1)", file=sys.stderr)
        return 2
    if args.agent == "human":
        agent_kwargs.setdefault("out_dir", str(folder / "sheets"))
    recorder = None
    if args.save_records:  # per shard folder when sharded: processes never share a file
        from agents.recorder import EpisodeRecorder

        if args.overwrite:
            (folder / RECORDS_FILE).unlink(missing_ok=True)
        folder.mkdir(parents=True, exist_ok=True)
        recorder = EpisodeRecorder(folder / RECORDS_FILE)
    on_turn = recorder.on_turn if recorder is not None else None
    if args.agent == "hf" and not args.no_progress:  # long turns: show progress per turn, not only per episode
        on_turn = TurnProgress(then=on_turn)
    try:
        metrics = evaluate(
            args.agent,
            env_kwargs_from(args),
            limit=args.limit,
            swap_check=args.swap_check,
            out_dir=args.out,
            num_envs=args.num_envs,
            seed=args.seed,
            shuffle=args.shuffle,
            agent_kwargs=agent_kwargs,
            retry_skipped=args.retry_skipped,
            overwrite=args.overwrite,
            save_turns=args.save_turns,
            plots=not args.no_plots,
            progress=not args.no_progress,
            command_args=_args_dict(args),
            on_turn=on_turn,
            on_episode=recorder.on_episode if recorder is not None else None,
            shard=args.shard,
            data_parallel=launch is not None,
            prefetch=prefetch_config(args.prefetch_workers, args.convert_ahead),
        )
    except EvalConfigError as exc:
        print(f"eval: error: {overwrite_hint(str(exc))}", file=sys.stderr)
        return 2
    except (DatasetError, ValueError, TypeError) as exc:
        print(f"eval: error: {exc}", file=sys.stderr)
        return 2
    if launch is not None and launch.rank != 0:
        return 0  # rank 0 prints the summary of the whole run
    dims = ", ".join(f"{d} {pct(v)}" for d, v in metrics["per_dimension"].items())
    swap = "" if metrics["swap_consistency"] is None else f", swap consistency {pct(metrics['swap_consistency'])}"
    print(
        f"{metrics['agent']} on {metrics['dataset']}: n={metrics['n']}, tau {pct(metrics['tau'])}, "
        f"diff {pct(metrics['diff'])} ({dims}){swap}; {metrics['skipped']} skipped"
    )
    records = f", {RECORDS_FILE}" if recorder is not None else ""
    if args.shard is not None:
        print(f"wrote shard {args.shard.name}: {folder}/results.jsonl, metrics.json, report.md{records}")
        print(f"when every shard is done: vr-env merge-shards {args.out}")
        return 0
    shards = f" (merged from {launch.world_size} shards under {args.out}/shards)" if launch is not None else ""
    records = f"; {RECORDS_FILE} in each shard folder" if launch is not None and recorder is not None else records
    print(f"wrote {args.out}/results.jsonl, metrics.json, report.md{records}{shards}")
    return 0


def local_device(agent_kwargs: dict[str, Any], local_rank: int) -> None:
    """In a multi-process launch each process loads its model on its own GPU (``cuda:LOCAL_RANK``)."""
    if "device" in agent_kwargs:
        return
    import torch

    if torch.cuda.is_available():
        agent_kwargs["device"] = f"cuda:{local_rank % torch.cuda.device_count()}"
