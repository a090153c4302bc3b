"""Throughput of VRJudge-v0 under Gymnasium's vector envs: SyncVectorEnv vs AsyncVectorEnv (1 and 2 workers).

Side by side in one run, for ``info_context=True`` (the default: ``info["context"]`` carries every
shown frame's pixels) and ``info_context=False``: the same scripted action mix in every setting
(per episode: two tool calls of 8 frames, a final answer, then the auto-reset step), the same
number of environment steps, frame caches warmed first (so the figure is the per-step cost, not
first-time rendering), several repeats, medians. AsyncVectorEnv uses its defaults
(``shared_memory=True``, ``copy=True``). Also prints what one step's ``info`` pickles to.

    python benchmarks/vector_env.py [--steps 1200] [--repeats 5] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import pickle
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym

from vr_env.env import VRJudgeEnv

PAIRS = 8  # small synthetic set, so every worker's frame cache is warm after the warm-up
WARMUP_EPISODES = 4 * PAIRS
SCRIPT = (
    "<Snapshot>s</Snapshot><Think>t</Think><Recommend Answer>TA=1, VQ=1, MQ=0, OA=1, CF=2</Recommend Answer>"
    '<tool_call>{"name": "select_frames", "arguments": {"target_frames": [3, 9, 15, 21, 51, 57, 63, 69]}}</tool_call>',
    "<Snapshot>s</Snapshot><Think>t</Think><Recommend Answer>TA=1, VQ=1, MQ=0, OA=1, CF=3</Recommend Answer>"
    '<tool_call>{"name": "select_frames", "arguments": {"target_frames": [30, 33, 36, 39, 78, 81, 84, 87]}}</tool_call>',
    "<Snapshot>s</Snapshot><Think>t</Think><Answer>TA=1, VQ=1, MQ=0, OA=1</Answer>",
    "(ignored: the auto-reset step)",
)
MODES = ("sync_1", "async_1", "async_2")


def make_env(info_context: bool) -> Callable[[], VRJudgeEnv]:
    return lambda: VRJudgeEnv(dataset_kwargs={"n": PAIRS}, info_context=info_context)


def build(mode: str, info_context: bool) -> gym.vector.VectorEnv:
    kind, n = mode.split("_")
    fns = [make_env(info_context) for _ in range(int(n))]
    return gym.vector.SyncVectorEnv(fns) if kind == "sync" else gym.vector.AsyncVectorEnv(fns)


def run(envs: gym.vector.VectorEnv, vector_steps: int, offset: int = 0) -> None:
    for t in range(vector_steps):
        envs.step([SCRIPT[(offset + t) % len(SCRIPT)]] * envs.num_envs)


def _process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(mode: str, info_context: bool, env_steps: int, seed: int) -> dict[str, float]:
    """Steps/s, plus CPU ms of the main process per vector step and of the workers per env step."""
    envs = build(mode, info_context)
    workers = [p.pid for p in getattr(envs, "processes", [])]
    try:
        envs.reset(seed=seed)
        run(envs, WARMUP_EPISODES * len(SCRIPT))
        vector_steps = env_steps // envs.num_envs
        worker_cpu = sum(_process_cpu_s(pid) for pid in workers)
        main_cpu, start = time.process_time(), time.perf_counter()
        run(envs, vector_steps)
        elapsed = time.perf_counter() - start
        main_cpu = time.process_time() - main_cpu
        worker_cpu = sum(_process_cpu_s(pid) for pid in workers) - worker_cpu
    finally:
        envs.close()
    return {
        "steps_per_s": vector_steps * envs.num_envs / elapsed,
        "main_cpu_ms_per_vector_step": main_cpu / vector_steps * 1e3,
        "worker_cpu_ms_per_env_step": worker_cpu / (vector_steps * envs.num_envs) * 1e3,
    }


def _spin(seconds: float) -> int:
    count, end = 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        count += 1
    return count


def cpu_ceiling(seconds: float = 1.0) -> float:
    """Pure-CPU work done by 2 processes over 1 in the same time: what this machine's load allows 2 workers."""
    with mp.get_context("fork").Pool(2) as pool:
        one = pool.apply(_spin, (seconds,))
        two = sum(pool.map(_spin, [seconds, seconds]))
    return two / one


def info_size_kb(info_context: bool) -> dict[str, float]:
    env = make_env(info_context)()
    env.reset(seed=0)
    _, _, _, _, info = env.step(SCRIPT[0])
    start = time.perf_counter()
    data = pickle.dumps(info)
    return {"kb": round(len(data) / 1024, 1), "ms": round((time.perf_counter() - start) * 1e3, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1200, help="timed environment steps per setting (all envs)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    if args.steps % (2 * len(SCRIPT)):
        parser.error(f"--steps must be a multiple of {2 * len(SCRIPT)}")

    load_before = os.getloadavg()
    samples: dict[str, dict[str, list[float]]] = {str(c): {m: [] for m in MODES} for c in (True, False)}
    main_ms: dict[str, dict[str, list[float]]] = {k: {m: [] for m in MODES} for k in samples}
    worker_ms: dict[str, dict[str, list[float]]] = {k: {m: [] for m in MODES} for k in samples}
    ceilings: list[float] = []
    for repeat in range(args.repeats):  # interleaved, so machine load hits every setting alike
        for info_context in (True, False):
            for mode in MODES:
                got = measure(mode, info_context, args.steps, seed=repeat)
                samples[str(info_context)][mode].append(got["steps_per_s"])
                main_ms[str(info_context)][mode].append(got["main_cpu_ms_per_vector_step"])
                worker_ms[str(info_context)][mode].append(got["worker_cpu_ms_per_env_step"])
                print(f"repeat {repeat} info_context={info_context} {mode}: {got}", flush=True)
        ceilings.append(cpu_ceiling())
        print(f"repeat {repeat} cpu ceiling (2 busy processes / 1): {ceilings[-1]:.2f}", flush=True)
    load_after = os.getloadavg()

    table: dict[str, dict[str, Any]] = {}
    for key, by_mode in samples.items():
        median = {m: statistics.median(v) for m, v in by_mode.items()}
        main = {m: statistics.median(v) for m, v in main_ms[key].items()}
        worker = {m: statistics.median(v) for m, v in worker_ms[key].items()}
        # On idle cores a vector step takes the main process's CPU work plus one worker step (the
        # workers run in parallel; the main process waits for them, then reads and merges).
        ideal = {m: int(m[-1]) * 1e3 / (main[m] + worker[m]) for m in MODES}
        table[key] = {
            "cpu_ms": {
                m: {"main_per_vector_step": round(main[m], 3), "worker_per_env_step": round(worker[m], 3)}
                for m in MODES
            },
            "cpu_ms_per_env_step_all_processes": {
                m: round((main[m] + int(m[-1]) * worker[m]) / int(m[-1]), 3) for m in MODES
            },
            "idle_cores_projection_steps_per_s": {m: round(v, 1) for m, v in ideal.items()},
            "idle_cores_projection_async_2_over_async_1": round(ideal["async_2"] / ideal["async_1"], 2),
            "idle_cores_projection_async_1_over_sync_1": round(ideal["async_1"] / ideal["sync_1"], 2),
            "median_steps_per_s": {m: round(v, 1) for m, v in median.items()},
            "async_2_over_async_1": round(median["async_2"] / median["async_1"], 2),
            "async_1_over_sync_1": round(median["async_1"] / median["sync_1"], 2),
            "async_2_over_sync_1": round(median["async_2"] / median["sync_1"], 2),
            "samples": {m: [round(x, 1) for x in v] for m, v in by_mode.items()},
        }
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores (shared with other jobs), no GPU, "
        f"Python {platform.python_version()}, gymnasium {gym.__version__}",
        "load_average_1_5_15": {
            "before": [round(x, 2) for x in load_before],
            "after": [round(x, 2) for x in load_after],
        },
        "command": f"python benchmarks/vector_env.py --steps {args.steps} --repeats {args.repeats}",
        "steps_per_setting": args.steps,
        "repeats": args.repeats,
        "cpu_ceiling_2_over_1": {
            "median": round(statistics.median(ceilings), 2),
            "samples": [round(c, 2) for c in ceilings],
        },
        "info_pickle_after_one_tool_call": {str(c): info_size_kb(c) for c in (True, False)},
        "by_info_context": table,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "vector_env.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "# VRJudge-v0 under vector envs (synthetic benchmark)",
        "",
        f"{result['machine']}. Load average (1/5/15 min) before {load_before[0]:.1f}/{load_before[1]:.1f}/"
        f"{load_before[2]:.1f}, after {load_after[0]:.1f}/{load_after[1]:.1f}/{load_after[2]:.1f}.",
        f"`{result['command']}`: {args.steps} environment steps per setting, median of {args.repeats} repeats.",
        "",
        "| info_context | info pickle KB | sync_1 steps/s | async_1 steps/s | async_2 steps/s "
        "| async_2 / async_1 | async_1 / sync_1 | async_2 / sync_1 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key, row in table.items():
        rate = row["median_steps_per_s"]
        size = result["info_pickle_after_one_tool_call"][key]["kb"]
        lines.append(
            f"| {key} | {size} | {rate['sync_1']:.0f} | {rate['async_1']:.0f} | {rate['async_2']:.0f} "
            f"| {row['async_2_over_async_1']} | {row['async_1_over_sync_1']} | {row['async_2_over_sync_1']} |"
        )
    lines += [
        "",
        "CPU time per step, measured in the same run (median ms; main process per vector step, each worker "
        "per env step; `all` = CPU of every process per env step), and what it implies on 2 idle cores "
        "(vector step = main CPU + one worker step, workers in parallel):",
        "",
        "| info_context | mode | main ms | worker ms | all ms / env step | idle-core projection steps/s |",
        "|---|---|---|---|---|---|",
    ]
    for key, row in table.items():
        for m in MODES:
            cpu = row["cpu_ms"][m]
            lines.append(
                f"| {key} | {m} | {cpu['main_per_vector_step']} | {cpu['worker_per_env_step']} "
                f"| {row['cpu_ms_per_env_step_all_processes'][m]} | {row['idle_cores_projection_steps_per_s'][m]:.0f} |"
            )
    lines += [
        "",
        "Idle-core projection of the ratios: "
        + "; ".join(
            f"info_context={key}: async_2/async_1 {row['idle_cores_projection_async_2_over_async_1']}, "
            f"async_1/sync_1 {row['idle_cores_projection_async_1_over_sync_1']}"
            for key, row in table.items()
        )
        + ".",
        "",
        f"CPU ceiling on this machine during the run: 2 busy processes did "
        f"{result['cpu_ceiling_2_over_1']['median']}x the pure-CPU work of 1 (median; the best 2 workers could reach).",
    ]
    (args.out / "vector_env.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
