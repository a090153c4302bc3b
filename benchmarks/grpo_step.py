"""GRPO step time split into rollout, scoring and optimization; the cost of the shared first-turn prefix.

Tiny Qwen2.5-VL (random weights) on CPU, the default synthetic dataset (112x112 frames, N = 96,
p = 1, up to 3 tool calls), :class:`WindowedGRPOTrainer` with the paper's loss settings (DAPO,
0.2 / 0.35, beta 0.01), G = 8, one group per step, 64 new tokens per turn. Half of the episodes are
scripted protocol turns with random answers (forced ids, real forward passes), half sample freely
(a random model writes invalid text until the turn limit), so groups are never degenerate.

Per step (TRL's ``step_time``): ``rollout`` (the environment-driven episodes), ``scoring`` (the gather,
scores, advantages, rows -> tensors, pixel values, reference log-probs) and ``optimization`` (the rest:
forward, backward and optimizer step of the loss).

Shared prefix: the G episodes of a group start from the same first-turn prompt. The transformers
backend does NOT share its prefill yet; this measures what sharing would save: the prefill of the
first-turn prompt for G rows batched versus 1 row, side by side in the same process. Usage:

    python benchmarks/grpo_step.py [--steps 3] [--threads 1] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

GROUP = 8
TOKENS = 64


def _trainer(model_dir: Path, out: Path, steps: int) -> Any:
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from agents.train.grpo import WindowedGRPOTrainer
    from agents.train.grpo_config import WindowedGRPOConfig

    model = AutoModelForImageTextToText.from_pretrained(str(model_dir), dtype=torch.float32)
    processor = AutoProcessor.from_pretrained(str(model_dir))
    args = WindowedGRPOConfig(
        output_dir=str(out),
        use_cpu=True,
        bf16=False,
        max_steps=steps,
        num_generations=GROUP,
        per_device_train_batch_size=GROUP,
        max_completion_length=TOKENS,
        env_kwargs={"max_tool_calls": 3, "memory_window": 1},
        demo_script_share=0.5,
        max_refill_rounds=1,
        learning_rate=1e-4,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        seed=0,
    )
    return WindowedGRPOTrainer(model, args, processor)


def prefill_seconds(trainer: Any, rows: int, repeats: int) -> float:
    """Median seconds of one forward pass over the first-turn prompt of pair 0, ``rows`` copies."""
    import gymnasium as gym
    import torch

    from agents.backends.transformers_backend import TransformersBackend
    from vr_env.context import to_chat_messages

    env = gym.make("vr_env:VRJudge-v0", max_tool_calls=3)
    _, info = env.reset(options={"pair_index": 0})
    backend = TransformersBackend(trainer.model, trainer.processing_class)
    batch = backend.encode([to_chat_messages(info["context"])] * rows)
    env.close()
    times = []
    with torch.no_grad():
        for _ in range(repeats + 1):
            start = time.perf_counter()
            trainer.model(**batch)
            times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    import torch

    from agents.tiny import build_tiny_model

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = build_tiny_model("qwen2_5_vl", Path(tmp) / "tiny", seed=0)
        trainer = _trainer(model_dir, Path(tmp) / "run", args.steps)
        trainer.train()
        steps = [row for row in trainer.state.log_history if "time/rollout" in row]
        one = prefill_seconds(trainer, 1, 3)
        group = prefill_seconds(trainer, GROUP, 3)
        prompt_tokens = len(trainer.last_generation.rows[0].prompt_ids)
    split = []
    for row in steps:
        total = row["step_time"]
        split.append(
            {
                "step": row["step"],
                "step_s": total,
                "rollout_s": row["time/rollout"],
                "scoring_s": row["time/scoring"],
                "optimization_s": total - row["time/rollout"] - row["time/scoring"],
                "rows": row["rows/real"],
                "turns_per_trajectory": row["trajectory/rows/mean"],
            }
        )
    later = split[1:] or split  # the first step also builds the environments
    summary = {
        key: statistics.median(s[key] for s in later)
        for key in ("step_s", "rollout_s", "scoring_s", "optimization_s", "rows")
    }
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores (shared), no GPU, {args.threads} torch thread(s)",
        "command": f"python benchmarks/grpo_step.py --steps {args.steps} --threads {args.threads}",
        "setup": {"G": GROUP, "new_tokens_per_turn": TOKENS, "first_turn_prompt_tokens": prompt_tokens},
        "steps": split,
        "median_after_first_step": summary,
        "first_turn_prefill": {
            "one_row_s": one,
            "group_rows_s": group,
            "group_over_one": group / one,
            "saving_per_group_s_if_shared": group - one,
        },
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "grpo_step.json").write_text(json.dumps(result, indent=2))
    lines = [
        "# GRPO step: rollout / scoring / optimization, and the first-turn prefix",
        "",
        f"Machine: {result['machine']}. Command: `{result['command']}`.",
        f"Tiny Qwen2.5-VL, synthetic pairs, G = {GROUP}, one group per step, {TOKENS} new tokens per turn, "
        f"half the episodes scripted; first-turn prompt {prompt_tokens} tokens.",
        "",
        "| step | step (s) | rollout (s) | scoring (s) | optimization (s) | rows |",
        "|---|---|---|---|---|---|",
    ]
    for s in split:
        lines.append(
            f"| {s['step']} | {s['step_s']:.2f} | {s['rollout_s']:.2f} | {s['scoring_s']:.2f} | "
            f"{s['optimization_s']:.2f} | {s['rows']:.0f} |"
        )
    p = result["first_turn_prefill"]
    lines += [
        "",
        "First-turn prefill of one group, side by side (same process, median of 3):",
        "",
        "| rows | prefill (s) |",
        "|---|---|",
        f"| 1 (shared prefix) | {p['one_row_s']:.3f} |",
        f"| {GROUP} (no sharing, what the backend does now) | {p['group_rows_s']:.3f} |",
        "",
        f"Sharing the prefix would save about {p['saving_per_group_s_if_shared']:.3f} s per group and step "
        f"({p['group_over_one']:.1f}x the one-row cost is paid now). Not implemented yet (see docs/grpo.md).",
    ]
    (args.out / "grpo_step.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
