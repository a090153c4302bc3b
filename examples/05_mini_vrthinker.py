"""A miniature VR-Thinker on a laptop CPU: from a base that sees, cold start, RFT, then GRPO.

The whole recipe of the paper, small enough to watch: the miniature base (a tiny Qwen2.5-VL, text
hidden 128, 2 layers, pretrained here to see the benchmark's defects: ``agents/pretrain``, shipped in
the package, rebuilt by ``vr-env pretrain-base``) is

1. cold-started by SFT on scanner traces (a scripted teacher that fetches the frames between the
   initial ones and writes well-formed turns; only all-correct traces are kept),
2. fine-tuned on its own all-correct samples (rejection sampling, RFT),
3. trained with GRPO against the environment's rewards (group advantages, exploration term),

and evaluated greedily on held-out pairs before and after each stage: tau and diff with 95 %
bootstrap intervals, per-dimension accuracy, format-valid turn rate, tool calls and frames fetched
per episode. The same pipeline runs a second time with the tool disabled (``max_tool_calls=0``: one
turn, the 8 initial frames only).

Data: the synthetic benchmark with the miniature's preset (``agents.pretrain.base.MINI_PRESET``):
only visual-quality defects, all ``noise`` at the stronger level, one defect window covering exactly
one of the 8 candidate frames of a video. The 8 initial frames (4 per video) see half of the
defects; the one tool call fetches the other 8 candidates, so a judge that uses the tool can see
every defect. Pairs 0-399 train, pairs 400+ evaluate. The reading is in ``docs/mini-vrthinker.md``.

Writes ``OUT/mini_vrthinker.{json,md,png}`` (table, figure) and the checkpoints under ``OUT/``:

    python examples/05_mini_vrthinker.py [--out runs/mini_vrthinker] [--threads 2] [--quick]

Needs the ``train`` extra (``pip install -e ".[train]"``). About 12 minutes on a 2-core CPU;
``--quick`` (or ``VR_ENV_QUICK=1``): a few pairs and steps per stage, under 2 minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import time
from collections import Counter
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from agents.pretrain.base import MINI_BASE, MINI_ENV, MINI_PRESET

PRESET, ENV = MINI_PRESET, MINI_ENV
#: Training pairs are drawn below this index; evaluation pairs start at it.
EVAL_START = 400
#: Pairs in the environment's dataset (pair i does not depend on it): room for up to 624 held-out pairs.
DATASET_PAIRS = 1024
STAGES = ("base", "cold start", "RFT", "GRPO")
ANSWER_NAMES = {1: "video 1", 2: "video 2", 0: "tie"}


@dataclass
class Sizes:
    """How much of everything one run does."""

    train_pairs: int = 200
    sft_epochs: float = 2.0
    sft_lr: float = 2e-3
    rft_pairs: int = 96
    rft_samples: int = 4
    rft_per_pair: int = 1
    rft_lr: float = 1e-4
    grpo_steps: int = 2
    grpo_group: int = 8
    grpo_groups_per_step: int = 12
    grpo_lr: float = 5e-5
    eval_pairs: int = 128
    max_new_tokens: int = 320


QUICK = Sizes(
    train_pairs=8, sft_epochs=1.0, rft_pairs=2, rft_samples=2, grpo_steps=1, grpo_group=2, grpo_groups_per_step=1,
    eval_pairs=2, max_new_tokens=16,
)  # fmt: skip


def arm_env(tool: bool) -> dict[str, Any]:
    return {**ENV, "dataset_kwargs": {**PRESET, "n": DATASET_PAIRS}, "max_tool_calls": 1 if tool else 0}


def evaluate(model_dir: Path, env: dict[str, Any], sizes: Sizes) -> dict[str, Any]:
    """Greedy episodes on the held-out pairs: accuracy, protocol and tool statistics."""
    from agents.backends import GenerationSettings
    from agents.backends.transformers_backend import TransformersBackend
    from agents.rollout import RolloutEngine
    from agents.train.metrics import protocol_stats
    from vr_env.eval.metrics import accuracy_block, bootstrap_interval

    start = time.perf_counter()
    backend = TransformersBackend.from_pretrained(model_dir, device="cpu")
    settings = GenerationSettings.greedy(max_new_tokens=sizes.max_new_tokens)
    engine = RolloutEngine(backend, env_kwargs=env, group_size=1, settings=settings)
    episodes = engine.run(list(range(EVAL_START, EVAL_START + sizes.eval_pairs))).episodes
    engine.close()
    rows = [{"status": "ok", "swapped": False, "labels": e.labels, "final_answer": e.final_answer} for e in episodes]
    stats = protocol_stats(episodes)
    n = max(len(episodes), 1)
    said = Counter(ANSWER_NAMES.get((e.final_answer or {}).get("VQ"), "no answer") for e in episodes)
    return {
        **accuracy_block(rows),
        "tau_ci": bootstrap_interval(rows, "OA", non_tie=False),
        "diff_ci": bootstrap_interval(rows, "OA", non_tie=True),
        "vq_answers": {name: said[name] for name in (*ANSWER_NAMES.values(), "no answer")},
        "format_valid_turn_rate": stats["format_valid_turn_rate"],
        "finished_rate": stats["finished_rate"],
        "tool_calls_per_episode": sum(e.tool_calls for e in episodes) / n,
        "frames_fetched_per_episode": sum(e.frames_fetched for e in episodes) / n,
        "episodes": len(episodes),
        "seconds": round(time.perf_counter() - start, 1),
    }


def cold_start(base: Path, env: dict[str, Any], work: Path, sizes: Sizes, threads: int) -> tuple[Path, dict[str, Any]]:
    from agents.train.config import SFTRunConfig
    from agents.train.sft import train_sft
    from agents.train.traces import build_traces

    traces = build_traces("scanner", env, out_dir=work / "traces", limit=sizes.train_pairs, progress=False)
    config = SFTRunConfig(
        learning_rate=sizes.sft_lr, warmup_ratio=0.05, gradient_accumulation_steps=2, num_train_epochs=sizes.sft_epochs,
        freeze_vision=True, save_steps=100_000, logging_steps=1, torch_threads=threads,
    )  # fmt: skip
    result = train_sft(base, work / "traces" / "traces.jsonl", work / "cold_start", config, verbose=False)
    losses = result.losses() or [float("nan")]
    info = {"traces_kept": traces.kept, "traces_played": traces.episodes, "turns": result.examples}
    return work / "cold_start", {**info, "loss_first": losses[0], "loss_last": losses[-1]}


def rft(model: Path, env: dict[str, Any], work: Path, sizes: Sizes, threads: int) -> tuple[Path, dict[str, Any]]:
    """Rejection sampling on pairs after the cold-start ones; the model is unchanged if none is accepted."""
    from agents.train.config import RejectionConfig, SFTRunConfig
    from agents.train.rejection import train_rs

    config = RejectionConfig(
        samples_per_pair=sizes.rft_samples, max_per_pair=sizes.rft_per_pair, limit=sizes.rft_pairs, offset=sizes.train_pairs,
        max_new_tokens=sizes.max_new_tokens, seed=1,
    )  # fmt: skip
    sft = SFTRunConfig(
        learning_rate=sizes.rft_lr, warmup_ratio=0.05, gradient_accumulation_steps=2, num_train_epochs=1.0,
        freeze_vision=True, save_steps=100_000, logging_steps=1, torch_threads=threads,
    )  # fmt: skip
    try:
        report, _ = train_rs(model, env, work / "rft", config, sft, device="cpu", verbose=False)
    except ValueError as error:
        if "no sample was accepted" not in str(error):
            raise
        return model, {"accepted": 0, "note": str(error)}  # nothing to fine-tune on: keep the model
    return work / "rft", {"accepted": report.accepted, "samples": report.samples}


def grpo(model: Path, env: dict[str, Any], work: Path, sizes: Sizes) -> tuple[Path, dict[str, Any]]:
    from agents.train.grpo.config import WindowedGRPOConfig
    from agents.train.grpo.run import run_grpo

    dataset_kwargs = {**env["dataset_kwargs"], "n": EVAL_START}  # never an evaluation pair
    config = WindowedGRPOConfig(
        output_dir=str(work / "grpo"), max_steps=sizes.grpo_steps, num_generations=sizes.grpo_group,
        per_device_train_batch_size=sizes.grpo_group * sizes.grpo_groups_per_step, learning_rate=sizes.grpo_lr,
        max_completion_length=sizes.max_new_tokens, env_kwargs={**env, "dataset_kwargs": dataset_kwargs},
        logging_steps=1, save_steps=100_000, report_to=[], use_cpu=True, seed=0, max_refill_rounds=1, beta=0.0,
        lr_scheduler_type="constant", freeze_vision=True,
    )  # fmt: skip
    summary = run_grpo(config, str(model))
    rows = [json.loads(line) for line in (work / "grpo" / "metrics.jsonl").read_text().splitlines()]
    rewards = [row["reward"] for row in rows if "reward" in row]
    return work / "grpo", {"steps": summary["steps"], "rewards": rewards}


def run_arm(tool: bool, base: Path, work: Path, sizes: Sizes, threads: int) -> dict[str, Any]:
    """Every stage of one arm, evaluated after each; seconds per stage."""
    env = arm_env(tool)
    stages: dict[str, dict[str, Any]] = {}
    clock = time.perf_counter()

    def record(name: str, model: Path, info: dict[str, Any]) -> None:
        nonlocal clock
        train_seconds = round(time.perf_counter() - clock, 1)
        stages[name] = {**evaluate(model, env, sizes), "training": info, "train_seconds": train_seconds}
        print(f"[{'tool' if tool else 'no tool'}] {name}: {summary_line(stages[name])}", flush=True)
        clock = time.perf_counter()

    record("base", base, {})
    model, info = cold_start(base, env, work, sizes, threads)
    record("cold start", model, info)
    model, info = rft(model, env, work, sizes, threads)
    record("RFT", model, info)
    model, info = grpo(model, env, work, sizes)
    record("GRPO", model, info)
    return stages


def summary_line(s: dict[str, Any]) -> str:
    return (
        f"tau {s['tau']:.3f}, diff {_num(s['diff'])}, VQ {s['per_dimension']['VQ']:.3f}, format {s['format_valid_turn_rate']:.3f}, "
        f"tool calls {s['tool_calls_per_episode']:.2f}, frames {s['frames_fetched_per_episode']:.1f}"
    )


def table(result: dict[str, Any]) -> str:
    lines = [
        "| arm | stage | tau (95 % CI) | diff (95 % CI) | TA | VQ | MQ | VQ answers (1 / 2 / tie / none) | format-valid turns | finished | "
        "tool calls / ep. | frames fetched / ep. | train s | eval s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for arm, stages in result["arms"].items():
        for name, s in stages.items():
            dims = s["per_dimension"]
            lines.append(
                f"| {arm} | {name} | {s['tau']:.3f} {_ci(s['tau_ci'])} | {_num(s['diff'])} {_ci(s['diff_ci'])} | {dims['TA']:.3f} | {dims['VQ']:.3f} | "
                f"{dims['MQ']:.3f} | {' / '.join(str(v) for v in s['vq_answers'].values())} | "
                f"{s['format_valid_turn_rate']:.3f} | {s['finished_rate']:.3f} | "
                f"{s['tool_calls_per_episode']:.2f} | {s['frames_fetched_per_episode']:.1f} | "
                f"{s['train_seconds']:.0f} | {s['seconds']:.0f} |"
            )
    return "\n".join(lines)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _ci(interval: Any) -> str:
    return "" if not interval else f"({interval[0]:.2f}-{interval[1]:.2f})"


def plot(result: dict[str, Any], path: Path) -> None:
    """One figure: the four stages side by side, with and without the tool."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [
        ("tau (OA accuracy, ties count)", lambda s: s["tau"]),
        ("diff (OA accuracy, non-tie pairs)", lambda s: s["diff"]),
        ("format-valid turn rate", lambda s: s["format_valid_turn_rate"]),
        ("tool calls per episode", lambda s: s["tool_calls_per_episode"]),
    ]
    figure, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.4))
    for ax, (title, value) in zip(axes, panels, strict=True):
        for arm, stages in result["arms"].items():
            ax.plot(range(len(stages)), [value(s) or 0.0 for s in stages.values()], marker="o", label=arm)
        ax.set_xticks(range(len(STAGES)), STAGES, fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.set_ylim(-0.05, 1.05 if "tool calls" not in title else 1.5)
    axes[0].legend(fontsize=8)
    figure.suptitle(f"Miniature VR-Thinker ({result['eval_pairs']} held-out synthetic pairs, greedy)", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/mini_vrthinker"))
    parser.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1), help="torch CPU threads")
    parser.add_argument("--no-tool-arm", action=argparse.BooleanOptionalAction, default=True,
                        help="also run the pipeline with the tool disabled")  # fmt: skip
    parser.add_argument("--quick", action="store_true", default=os.environ.get("VR_ENV_QUICK") == "1")
    parser.add_argument("--base", type=Path, default=MINI_BASE,
                        help="checkpoint every arm starts from (default: the shipped miniature base)")  # fmt: skip
    for name, value in asdict(Sizes()).items():
        parser.add_argument("--" + name.replace("_", "-"), type=type(value), default=None, help=f"default {value}")
    args = parser.parse_args()
    sizes = replace(
        QUICK if args.quick else Sizes(),
        **{k: getattr(args, k) for k in asdict(Sizes()) if getattr(args, k) is not None},
    )

    if sizes.train_pairs + sizes.rft_pairs > EVAL_START:
        parser.error(f"--train-pairs + --rft-pairs must stay below the held-out pairs ({EVAL_START})")
    if not 1 <= sizes.eval_pairs <= DATASET_PAIRS - EVAL_START:
        parser.error(f"--eval-pairs must lie in 1..{DATASET_PAIRS - EVAL_START}")
    from vr_env.commands.extras import require_train_extra

    require_train_extra("examples/05_mini_vrthinker.py")
    import torch

    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    if args.out.exists():
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True)
    if not (args.base / "config.json").is_file():
        parser.error(f"no checkpoint at {args.base} (rebuild the miniature base with: vr-env pretrain-base --out DIR)")
    base = Path(shutil.copytree(args.base, args.out / "base"))
    arms = {"tool": run_arm(True, base, args.out / "tool", sizes, args.threads)}
    if args.no_tool_arm:
        arms["no tool"] = run_arm(False, base, args.out / "no_tool", sizes, args.threads)
    result = {
        "machine": f"{platform.machine()} CPU, {os.cpu_count()} cores, torch threads {args.threads}",
        "sizes": asdict(sizes),
        "quick": args.quick,
        "base": str(args.base),
        "preset": PRESET,
        "env": ENV,
        "eval_pairs": sizes.eval_pairs,
        "arms": arms,
        "total_seconds": round(time.perf_counter() - started, 1),
    }
    (args.out / "mini_vrthinker.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    markdown = f"{table(result)}\n\nTotal: {result['total_seconds']:.0f} s on {result['machine']}.\n"
    (args.out / "mini_vrthinker.md").write_text(markdown, encoding="utf-8")
    plot(result, args.out / "mini_vrthinker.png")
    print(markdown)
    print(f"wrote {args.out / 'mini_vrthinker.png'}")


if __name__ == "__main__":
    main()
