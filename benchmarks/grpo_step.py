"""GRPO step time split into rollout, scoring and optimization; rollout throughput with and without the shared prefix.

Tiny Qwen2.5-VL (random weights) on CPU, the default synthetic dataset (112x112 frames, N = 96,
p = 1, up to 3 tool calls), :class:`WindowedGRPOTrainer` with the paper's loss settings (DAPO,
0.2 / 0.35, beta 0.01), G = 8, one group per step, 64 new tokens per turn. Half of the episodes are
scripted protocol turns with random answers (forced ids, real forward passes), half sample freely
(a random model writes invalid text until the turn limit), so groups are never degenerate.

Per step (TRL's ``step_time``, the trainer's default ``share_prefix=True``): ``rollout`` (the
environment-driven episodes), ``scoring`` (the gather, scores, advantages, rows -> tensors, pixel
values, reference log-probs) and ``optimization`` (the rest: forward, backward and optimizer step).

Shared prefix, side by side in the same process on the trained model (``TransformersBackend`` with
``share_prefix`` on and off, alternating, median of ``--repeats``): the first turn of a group (G
identical prompts) to its first token and to 64 new tokens, and the whole multi-turn rollout of
one group as the trainer plays it (same seeds and scripts in both modes). Usage:

    python benchmarks/grpo_step.py [--steps 3] [--threads 1] [--repeats 3] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from dataclasses import replace
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
    from agents.train.grpo.config import WindowedGRPOConfig

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


def first_turn(trainer: Any) -> list[Any]:
    """The first-turn conversation of pair 0, G times (fresh objects, equal content: as the rollout sends it)."""
    import gymnasium as gym

    from vr_env.context import to_chat_messages

    env = gym.make("vr_env:VRJudge-v0", max_tool_calls=3)
    conversations = []
    for _ in range(GROUP):
        _, info = env.reset(options={"pair_index": 0})
        conversations.append(to_chat_messages(info["context"]))
    env.close()
    return conversations


def group_rollout(trainer: Any, backend: Any, seed: int) -> tuple[float, dict[str, Any], list[list[int]]]:
    """One group's multi-turn rollout as the trainer plays it: (seconds, stats, every turn's ids)."""
    from agents.rollout import RolloutEngine
    from agents.train.grpo import demo_script

    config = trainer.env_config
    engine = RolloutEngine(
        backend,
        trainer._env_factory,
        group_size=1,
        settings=trainer.generation_settings,
        seed=seed,
        script=demo_script(0.5, seed, config.total_frames, config.max_tool_calls),
    )
    engine._pool(GROUP)  # environments built outside the timing
    start = time.perf_counter()
    result = engine.run([0] * GROUP)
    seconds = time.perf_counter() - start
    engine.close()
    ids = [list(t.completion_ids or ()) for e in result.episodes for t in e.turns]
    return seconds, result.stats, ids


def side_by_side(trainer: Any, repeats: int) -> dict[str, Any]:
    """Shared prefix on / off, alternating, ``repeats`` timed runs of each after one warm-up."""
    from agents.backends.transformers_backend import TransformersBackend

    conversations = first_turn(trainer)
    backends = {
        mode: TransformersBackend(trainer.model, trainer.processing_class, share_prefix=mode == "shared")
        for mode in ("shared", "plain")
    }
    times: dict[str, dict[str, list[float]]] = {m: {"ttft": [], "first_turn": [], "rollout": []} for m in backends}
    tokens: dict[str, dict[str, list[int]]] = {m: {"first_turn": [], "rollout": []} for m in backends}
    ids: dict[str, list[list[list[int]]]] = {m: [] for m in backends}
    stats: dict[str, dict[str, Any]] = {}
    settings = trainer.generation_settings
    for repeat in range(repeats + 1):
        order = ("shared", "plain") if repeat % 2 == 0 else ("plain", "shared")
        for mode in order:
            backend = backends[mode]
            start = time.perf_counter()
            backend.generate(conversations, replace(settings, max_new_tokens=1, seed=0))
            ttft = time.perf_counter() - start
            start = time.perf_counter()
            generations = backend.generate(conversations, replace(settings, seed=repeat))
            turn = time.perf_counter() - start
            seconds, rollout_stats, turn_ids = group_rollout(trainer, backend, seed=1000 + repeat)
            if repeat == 0:
                continue  # warm-up
            times[mode]["ttft"].append(ttft)
            times[mode]["first_turn"].append(turn)
            times[mode]["rollout"].append(seconds)
            tokens[mode]["first_turn"].append(sum(len(g.token_ids or ()) for g in generations))
            tokens[mode]["rollout"].append(int(rollout_stats["completion_tokens"]))
            ids[mode].append(turn_ids)
            stats[mode] = {"turns": rollout_stats["turns"], "prompt_tokens": rollout_stats["prompt_tokens"]}
    result: dict[str, Any] = {}
    for mode in backends:
        t, n = times[mode], tokens[mode]
        result[mode] = {
            "first_token_s": statistics.median(t["ttft"]),
            "first_turn_s": statistics.median(t["first_turn"]),
            "first_turn_tokens_per_s": statistics.median(
                k / s for k, s in zip(n["first_turn"], t["first_turn"], strict=True)
            ),
            "rollout_s": statistics.median(t["rollout"]),
            "rollout_tokens_per_s": statistics.median(k / s for k, s in zip(n["rollout"], t["rollout"], strict=True)),
            "rollout_completion_tokens": statistics.median(n["rollout"]),
            "runs_s": t,
            "prefill_stats": dict(backends[mode].prefill_stats),
            **stats[mode],
        }
    result["first_turn_prompt_tokens"] = int(backends["plain"].encode(conversations[:1])["input_ids"].shape[1])
    result["identical_rollouts"] = ids["shared"] == ids["plain"]
    result["share_prefix_disabled"] = backends["shared"].share_prefix_disabled
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each mode, side by side")
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
        trainer.model.eval()
        shared = side_by_side(trainer, args.repeats)
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
    on, off = shared["shared"], shared["plain"]
    prompt_tokens = shared["first_turn_prompt_tokens"]
    ratios = {
        "first_token": off["first_token_s"] / on["first_token_s"],
        "first_turn": off["first_turn_s"] / on["first_turn_s"],
        "rollout": off["rollout_s"] / on["rollout_s"],
    }
    command = f"python benchmarks/grpo_step.py --steps {args.steps} --threads {args.threads} --repeats {args.repeats}"
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores (shared with another job), no GPU, "
        f"{args.threads} torch thread(s)",
        "command": command,
        "setup": {"G": GROUP, "new_tokens_per_turn": TOKENS, "first_turn_prompt_tokens": prompt_tokens},
        "steps": split,
        "median_after_first_step": summary,
        "shared_prefix": {**shared, "speedup_plain_over_shared": ratios},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "grpo_step.json").write_text(json.dumps(result, indent=2))
    lines = [
        "# GRPO step: rollout / scoring / optimization, and the shared first-turn prefix",
        "",
        f"Machine: {result['machine']}. Command: `{command}`.",
        f"Tiny Qwen2.5-VL, synthetic pairs, G = {GROUP}, one group per step, {TOKENS} new tokens per turn, "
        f"half the episodes scripted; first-turn prompt of pair 0: {prompt_tokens} tokens. Steps run with the trainer's "
        "default `share_prefix=True`.",
        "",
        "| step | step (s) | rollout (s) | scoring (s) | optimization (s) | rows |",
        "|---|---|---|---|---|---|",
    ]
    for s in split:
        lines.append(
            f"| {s['step']} | {s['step_s']:.2f} | {s['rollout_s']:.2f} | {s['scoring_s']:.2f} | "
            f"{s['optimization_s']:.2f} | {s['rows']:.0f} |"
        )
    lines += [
        "",
        f"Shared prefix on / off, side by side on the trained model (same process, alternating, median of "
        f"{args.repeats} after a warm-up; same seeds and scripts in both modes):",
        "",
        "| measure | shared prefix | no sharing | no sharing / shared |",
        "|---|---|---|---|",
        f"| first turn of a group, first token (s) | {on['first_token_s']:.3f} | {off['first_token_s']:.3f} | "
        f"{ratios['first_token']:.2f}x |",
        f"| first turn of a group, {TOKENS} tokens (s) | {on['first_turn_s']:.3f} | {off['first_turn_s']:.3f} | "
        f"{ratios['first_turn']:.2f}x |",
        f"| first turn, new tokens / s | {on['first_turn_tokens_per_s']:.1f} | {off['first_turn_tokens_per_s']:.1f} | |",
        f"| multi-turn rollout of a group (s) | {on['rollout_s']:.2f} | {off['rollout_s']:.2f} | "
        f"{ratios['rollout']:.2f}x |",
        f"| rollout, completion tokens / s | {on['rollout_tokens_per_s']:.1f} | {off['rollout_tokens_per_s']:.1f} | |",
        f"| prompts prefilled / rows generated (all runs) | {on['prefill_stats']['prefilled']} / "
        f"{on['prefill_stats']['rows']} | {off['prefill_stats']['prefilled']} / {off['prefill_stats']['rows']} | |",
        "",
        f"Rollouts identical in both modes (every turn's ids): {'yes' if shared['identical_rollouts'] else 'no'}. "
        f"A rollout of a group: {on['turns']} turns, {on['prompt_tokens']} prompt tokens, "
        f"{on['rollout_completion_tokens']:.0f} completion tokens. Only the first turn repeats a prompt "
        "(later turns differ per episode), so the rollout saves one group's first-turn prefill.",
    ]
    (args.out / "grpo_step.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
