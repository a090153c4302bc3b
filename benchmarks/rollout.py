"""Batched vs sequential rollouts: episodes per second with the tiny Qwen2.5-VL model on CPU.

4 pairs x G = 8 = 32 episodes on the default synthetic dataset (112x112 frames, N = 96, p = 1).
Two workloads:

- ``scripted``: every turn is forced (a ``LogitsProcessor`` fixes the chosen ids; forward passes,
  log-probs, decoding and parsing stay real). Episode ``e`` makes ``e % 4`` tool calls of 4 frames,
  then answers, so episodes last 1-4 turns and stop at different times; turns are about 150 tokens.
- ``scripted-long``: the same with a longer reasoning segment, about 300 tokens per turn (the paper's
  segments are up to about 400 tokens).
- ``sampled``: real sampling (paper settings) capped at ``max_new_tokens = 256`` (the paper's turns are
  up to about 400 tokens); a random model never
  follows the protocol, so every episode runs the full 4 turns of invalid text.

``batched`` generates each turn for all active episodes in one call (left padding, per-row stop);
``sequential`` plays the episodes one after the other (batch size 1). Both run in the same process,
interleaved, after a warm-up; figures are medians over ``--repeats``. One torch thread by default:
with several threads on a shared 2-core machine, OpenMP barriers make timings erratic. Usage:

    python benchmarks/rollout.py [--repeats 2] [--threads 1] [--out benchmarks/results]
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

REPO = Path(__file__).resolve().parents[1]
PAIRS = [0, 1, 2, 3]
GROUP = 8
MAX_SAMPLED_TOKENS = 256


SNAPSHOT = (
    "<Snapshot>Frame 7 of video 1 shows the red car sharp against the sky; frame 55 of video 2 shows the same "
    "car with a blurry background and a flicker near the road.</Snapshot>"
)
THINK = (
    "<Think>Video 1 looks cleaner so far and matches the prompt, but the motion between frames 19 and 31 "
    "is unclear, so I compare the middle of both videos before deciding.</Think>"
)


def scripted(episode: int, turn: int, info: dict[str, Any], think: str = THINK) -> str:
    """``episode % 4`` tool calls, then a final answer; about 150 tokens per turn."""
    if turn < episode % 4:
        frames = [3 + turn, 20 + turn, 52 + turn, 70 + turn]
        return (
            SNAPSHOT
            + think
            + "<Recommend Answer>TA=1, VQ=1, MQ=0, OA=1, CF=2</Recommend Answer>"
            + '<tool_call>{"name": "select_frames", "arguments": {"target_frames": '
            + json.dumps(frames)
            + "}}</tool_call>"
        )
    return SNAPSHOT + think + "<Answer>TA=1, VQ=1, MQ=0, OA=1</Answer>"


LONG_THINK = (
    THINK.replace("</Think>", " ")
    + " ".join(
        [
            "Comparing frame by frame: the car in video 1 keeps its shape and colour while it moves, and its",
            "position changes smoothly between neighbouring frames. Video 2 matches the prompt as well, but the",
            "background flickers and one frame looks frozen, which hurts motion quality. Visual quality is close:",
            "both are sharp, with a little noise in video 2 near the end. I check the end of both videos next.",
        ]
    )
    + "</Think>"
)


def scripted_long(episode: int, turn: int, info: dict[str, Any]) -> str:
    """Like :func:`scripted` with a longer reasoning segment: about 300 tokens per turn (the paper's
    segments are up to about 400)."""
    return scripted(episode, turn, info, think=LONG_THINK)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads (1: robust when other processes share the cores)"
    )
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args()

    import torch
    import transformers

    from agents.backends import GenerationSettings
    from agents.backends.transformers_backend import TransformersBackend
    from agents.rollout import RolloutEngine
    from agents.tiny import build_tiny_model

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as folder:
        backend = TransformersBackend.from_pretrained(build_tiny_model("qwen2_5_vl", folder, seed=0), device="cpu")
    workloads = {
        "scripted": {"script": scripted, "settings": GenerationSettings(max_new_tokens=2048)},
        "scripted-long": {"script": scripted_long, "settings": GenerationSettings(max_new_tokens=2048)},
        "sampled": {"script": None, "settings": GenerationSettings(max_new_tokens=MAX_SAMPLED_TOKENS)},
    }
    engines = {
        name: RolloutEngine(backend, group_size=GROUP, settings=w["settings"], seed=0, script=w["script"])
        for name, w in workloads.items()
    }
    for engine in engines.values():  # warm-up: envs, frame cache, kernels
        engine.run(PAIRS[:1], batched=True)

    timings: dict[str, dict[str, list[float]]] = {name: {"batched": [], "sequential": []} for name in workloads}
    summary: dict[str, dict[str, Any]] = {name: {} for name in workloads}
    for _ in range(args.repeats):
        for name, engine in engines.items():
            for mode in ("batched", "sequential"):
                start = time.perf_counter()
                result = engine.run(PAIRS, batched=mode == "batched")
                timings[name][mode].append(time.perf_counter() - start)
                summary[name][mode] = {
                    "generate_calls": result.generate_calls,
                    "turns": result.stats["turns"],
                    "completion_tokens": result.stats["completion_tokens"],
                    "prompt_tokens": result.stats["prompt_tokens"],
                    "tool_use_rate": result.stats["tool_use_rate"],
                }
    phases = phase_costs(backend, engines["sampled"])
    results: dict[str, Any] = {
        "episodes": len(PAIRS) * GROUP,
        "pairs": len(PAIRS),
        "group_size": GROUP,
        "model": "tiny qwen2_5_vl (agents.tiny, ~0.26M parameters, float32, CPU)",
        "machine": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
        },
        "repeats": args.repeats,
        "phase_costs": phases,
        "workloads": {},
    }
    for name in workloads:
        batched = statistics.median(timings[name]["batched"])
        sequential = statistics.median(timings[name]["sequential"])
        results["workloads"][name] = {
            "batched_seconds": batched,
            "sequential_seconds": sequential,
            "batched_episodes_per_second": results["episodes"] / batched,
            "sequential_episodes_per_second": results["episodes"] / sequential,
            "speedup": sequential / batched,
            "all_seconds": timings[name],
            **summary[name],
        }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "rollout.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "rollout.md").write_text(markdown(results))
    print(markdown(results))


def phase_costs(backend: Any, engine: Any) -> dict[str, Any]:
    """Prefill seconds and decode milliseconds per step of raw ``model.generate`` at batch 1 and 32."""
    import torch

    from vr_env.context import to_chat_messages

    envs = [engine._env(i) for i in range(len(PAIRS) * GROUP)]
    conversations = [
        to_chat_messages(env.reset(seed=0, options={"pair_index": PAIRS[i % len(PAIRS)]})[1]["context"])
        for i, env in enumerate(envs)
    ]
    out: dict[str, Any] = {}
    for size in (1, len(conversations)):
        batch = backend.encode(conversations[:size])
        seconds = {}
        for steps in (1, 65):
            start = time.perf_counter()
            with torch.inference_mode():
                backend.model.generate(**batch, max_new_tokens=steps, min_new_tokens=steps, do_sample=False)
            seconds[steps] = time.perf_counter() - start
        out[f"batch_{size}"] = {
            "prompt_tokens": int(batch["input_ids"].shape[1]),
            "prefill_seconds": seconds[1],
            "decode_ms_per_step": (seconds[65] - seconds[1]) / 64 * 1000,
        }
    return out


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = [
        "# Rollout throughput: batched vs sequential",
        "",
        f"Generated by `python benchmarks/rollout.py`: {results['pairs']} pairs x G = {results['group_size']} = "
        f"{results['episodes']} episodes, {results['model']}, {m['cpu_count']} CPU cores ({m['torch_threads']} torch "
        f"threads), torch {m['torch']}, transformers {m['transformers']}. Medians of {results['repeats']} interleaved "
        "runs in one process after a warm-up. `scripted`: forced turns (real forward passes), episode e makes "
        "e % 4 tool calls then answers (about 150 tokens per turn); `scripted-long`: the same with about 300 "
        "tokens per turn (the paper's segments are up to about 400); `sampled`: real sampling capped at "
        f"{MAX_SAMPLED_TOKENS} new tokens (4 invalid turns each). Prompts are about 1,000-2,000 tokens (8-12 "
        "images of 16 tokens, the rest text). On CPU the prefill costs the same batched or not; the gain "
        "comes from decoding all rows in one step.",
        "",
        "| workload | mode | seconds | episodes/s | generate calls | turns | completion tokens | speed-up |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, w in results["workloads"].items():
        for mode in ("batched", "sequential"):
            speedup = f"{w['speedup']:.1f}x" if mode == "batched" else "1.0x"
            lines.append(
                f"| {name} | {mode} | {w[mode + '_seconds']:.2f} | {w[mode + '_episodes_per_second']:.2f} "
                f"| {w[mode]['generate_calls']} | {w[mode]['turns']} | {w[mode]['completion_tokens']} | {speedup} |"
            )
    phases = results["phase_costs"]
    one, many = phases["batch_1"], phases[f"batch_{results['episodes']}"]
    lines += [
        "",
        "Where the time goes (raw `model.generate` on turn-0 prompts of about "
        f"{one['prompt_tokens']} tokens): prefill {one['prefill_seconds'] * 1000:.0f} ms for 1 row, "
        f"{many['prefill_seconds'] * 1000:.0f} ms for {results['episodes']} rows (compute-bound on CPU: no gain "
        f"from batching); one decoding step {one['decode_ms_per_step']:.2f} ms for 1 row, "
        f"{many['decode_ms_per_step']:.2f} ms for {results['episodes']} rows. Batching pays off in decoding, so "
        "the speed-up grows with the length of the turns; on a GPU, where prefill batches well too, it is "
        "larger.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
