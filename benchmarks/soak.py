"""Soak test: thousands of episodes on the real clips, resident memory tracked per video backend.

Each episode: ``reset`` on a random pair (videos randomly swapped), three tool calls of 8 random
frames (every other episode an invalid turn replaces the third), a final answer. Resident memory (RSS, from ``/proc/self/statm``) is
sampled every 100 episodes; growth after warm-up is compared with the growth of the process-wide
frame cache, which is bounded (``VR_ENV_FRAME_CACHE_BYTES``, default 2 GiB) and holds at most the
F candidate frames of each video plus their resized copies. Goal: RSS grows less than 20 MB beyond
the cache after warm-up. Every backend runs in its own process.

    python benchmarks/soak.py [--episodes 2000] [--backends pyav decord] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "videogen-reward-example"
HEAD = "<Snapshot>s</Snapshot><Think>t</Think>"
TOOL = HEAD + (
    "<Recommend Answer>TA=1, VQ=1, MQ=0, OA=1, CF=2</Recommend Answer>"
    '<tool_call>{"name": "select_frames", "arguments": {"target_frames": %s}}</tool_call>'
)
FINAL = HEAD + "<Answer>TA=1, VQ=2, MQ=0, OA=1</Answer>"
WARMUP = 100
MB = 1024**2


def rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def soak(backend: str, episodes: int, data_root: Path, seed: int) -> dict[str, Any]:
    import gymnasium as gym

    from vr_env.video.cache import shared_frame_cache

    env = gym.make("vr_env:VRJudge-v0", dataset="videogen-reward", data_root=str(data_root), video_backend=backend)
    cache = shared_frame_cache()
    rng = np.random.default_rng(seed)
    n_frames = env.unwrapped.config.total_frames  # type: ignore[attr-defined]
    samples: list[dict[str, float]] = []
    start = time.perf_counter()
    for episode in range(1, episodes + 1):
        env.reset(seed=int(rng.integers(1 << 30)), options={"swap": "random"})
        for call in range(3):
            if call == 2 and episode % 2:  # every other episode: an invalid turn instead of the third call
                env.step("not a protocol turn")
                continue
            frames = sorted(rng.choice(np.arange(1, n_frames + 1), size=8, replace=False).tolist())
            env.step(TOOL % json.dumps(frames))
        _, _, terminated, _, _ = env.step(FINAL)
        assert terminated
        if episode % 100 == 0 or episode == 1:
            samples.append(
                {
                    "episode": episode,
                    "rss_mb": round(rss_bytes() / MB, 2),
                    "cache_mb": round(cache.nbytes / MB, 2),
                    "seconds": round(time.perf_counter() - start, 1),
                }
            )
    env.close()
    warm = next(s for s in samples if s["episode"] >= WARMUP)
    end = samples[-1]
    growth = end["rss_mb"] - warm["rss_mb"]
    cache_growth = end["cache_mb"] - warm["cache_mb"]
    return {
        "backend": backend,
        "episodes": episodes,
        "seconds": end["seconds"],
        "episodes_per_second": round(episodes / end["seconds"], 1),
        "rss_after_warmup_mb": warm["rss_mb"],
        "rss_end_mb": end["rss_mb"],
        "rss_growth_mb": round(growth, 2),
        "cache_growth_mb": round(cache_growth, 2),
        "growth_beyond_cache_mb": round(growth - cache_growth, 2),
        "cache_end_mb": end["cache_mb"],
        "cache_limit_mb": round(cache.max_bytes / MB, 1),
        "samples": samples,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=2000)
    parser.add_argument("--backends", nargs="+", default=["pyav", "decord"])
    parser.add_argument("--data-root", type=Path, default=DATA)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)  # run one backend in this process
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(soak(args.one, args.episodes, args.data_root, args.seed)))
        return
    results = []
    for backend in args.backends:
        command = [sys.executable, __file__, "--one", backend, "--episodes", str(args.episodes)]
        command += ["--data-root", str(args.data_root), "--seed", str(args.seed)]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            results.append({"backend": backend, "error": done.stderr.strip().splitlines()[-1:]})
            continue
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(json.dumps({k: v for k, v in results[-1].items() if k != "samples"}))
    write(results, args)


def write(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    command = f"python benchmarks/soak.py --episodes {args.episodes} --backends {' '.join(args.backends)}"
    machine = f"{platform.machine()}, {os.cpu_count()} CPU cores (shared with other work), no GPU"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "soak.json").write_text(
        json.dumps({"command": command, "machine": machine, "results": results}, indent=2) + "\n"
    )
    lines = [
        "# Soak: resident memory over many episodes on the real clips",
        "",
        f"Command: `{command}`  ",
        f"Machine: {machine}. Data: `videogen-reward-example` (2 pairs, 4 real mp4 clips).",
        "",
        "Each episode: reset (random pair, random swap), 3 tool calls of 8 random frames (every other episode",
        f"an invalid turn replaces the third), a final answer. Warm-up: the first {WARMUP} episodes. Goal: RSS grows < 20 MB beyond the frame cache.",
        "",
        "| backend | episodes | s | episodes/s | RSS after warm-up MB | RSS end MB | RSS growth MB | cache growth MB | growth beyond cache MB | cache end / limit MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]  # fmt: skip
    for r in results:
        if "error" in r:
            lines.append(f"| {r['backend']} | failed: {r['error']} |||||||||")
            continue
        lines.append(
            f"| {r['backend']} | {r['episodes']} | {r['seconds']} | {r['episodes_per_second']} | "
            f"{r['rss_after_warmup_mb']} | {r['rss_end_mb']} | {r['rss_growth_mb']} | {r['cache_growth_mb']} | "
            f"**{r['growth_beyond_cache_mb']}** | {r['cache_end_mb']} / {r['cache_limit_mb']} |"
        )
    (args.out / "soak.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
