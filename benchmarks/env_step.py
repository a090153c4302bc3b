"""Reset and step latency of VRJudge-v0 on the embedded synthetic benchmark.

Measures, side by side in one run: ``reset`` (cold: frames rendered; warm: frames from the shared
cache, as for the G environments of a GRPO group), a tool-call ``step`` (8 frames fetched),
an invalid ``step`` (parse + feedback only) and a final-answer ``step`` (rubric scoring); and the
synthetic benchmark itself: generating its 512 default pairs and rendering the 8 initial frames of a
clip (these timings left the unit tests: a timing is a measurement, not a check).

    python benchmarks/env_step.py [--episodes 200] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np

from vr_env.data.base import load_dataset
from vr_env.data.synthetic import candidate_frame_indices, initial_positions
from vr_env.env import VRJudgeEnv
from vr_env.video.cache import shared_frame_cache

TOOL = (
    "<Snapshot>s</Snapshot><Think>t</Think><Recommend Answer>TA=1, VQ=1, MQ=0, OA=1, CF=2</Recommend Answer>"
    '<tool_call>{{"name": "select_frames", "arguments": {{"target_frames": {frames}}}}}</tool_call>'
)
FINAL = "<Snapshot>s</Snapshot><Think>t</Think><Answer>TA=1, VQ=1, MQ=0, OA=1</Answer>"


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()

    env = VRJudgeEnv()
    rng = np.random.default_rng(0)
    samples: dict[str, list[float]] = {
        k: [] for k in ("reset_cold", "reset_warm", "step_tool", "step_invalid", "step_final")
    }
    samples["synthetic_512_pairs"] = [timed(lambda: load_dataset("synthetic")) for _ in range(5)]
    clip = load_dataset("synthetic", n=1)[0].video_1.clip
    positions = candidate_frame_indices(96, 48)[initial_positions(48)]
    initial = np.concatenate([positions, positions + 1])
    samples["render_8_frames"] = [timed(lambda: clip.render(initial)) for _ in range(50)]
    for episode in range(args.episodes):
        shared_frame_cache().clear()
        samples["reset_cold"].append(timed(lambda e=episode: env.reset(seed=e, options={"pair_index": e})))
        samples["reset_warm"].append(timed(lambda e=episode: env.reset(seed=e, options={"pair_index": e})))
        frames = sorted(rng.choice(np.arange(1, 97), size=8, replace=False).tolist())
        samples["step_tool"].append(timed(lambda f=frames: env.step(TOOL.format(frames=f))))
        samples["step_invalid"].append(timed(lambda: env.step("no protocol here")))
        samples["step_final"].append(timed(lambda: env.step(FINAL)))

    def summary(values: list[float]) -> dict[str, float]:
        ordered = sorted(values)
        return {
            "median_ms": round(statistics.median(values), 3),
            "p90_ms": round(ordered[int(0.9 * (len(ordered) - 1))], 3),
            "mean_ms": round(statistics.fmean(values), 3),
        }

    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "episodes": args.episodes,
        "config": {"frames_per_video": env.config.frames_per_video, "observation_size": env.config.observation_size},
        "latency": {k: summary(v) for k, v in samples.items()},
    }
    median = {k: v["median_ms"] for k, v in result["latency"].items()}
    result["ratios"] = {
        "reset_cold_over_warm": round(median["reset_cold"] / median["reset_warm"], 2),
        "step_tool_over_invalid": round(median["step_tool"] / median["step_invalid"], 2),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "env_step.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "# VRJudge-v0 latency (synthetic benchmark)",
        "",
        f"{args.episodes} episodes, {result['machine']}; `python benchmarks/env_step.py`.",
        "",
        "| operation | median ms | p90 ms | mean ms |",
        "|---|---|---|---|",
        *[f"| {k} | {v['median_ms']} | {v['p90_ms']} | {v['mean_ms']} |" for k, v in result["latency"].items()],
        "",
        f"Ratios (same run): cold/warm reset {result['ratios']['reset_cold_over_warm']}x, "
        f"tool step/invalid step {result['ratios']['step_tool_over_invalid']}x.",
    ]
    (args.out / "env_step.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
