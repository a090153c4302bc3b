"""A cold episode against the raw decode of its frames, side by side, per video backend.

For each real clip pair: a cold episode (fresh frame cache: ``reset`` + 3 tool calls of 8 seeded
random frames) is timed, and so is the floor: one sequential pass of the same library over each
video that keeps (converts to RGB) exactly the frames the episode showed. Runs alternate, medians
over repeats. Goal (issue 19): cold episode <= 1.3x the raw decode. Shown frames are resized by each
``--scalers`` method in turn (same session, alternating): ``torchvision`` (the default, the pixels of
Qwen2.5-VL's own processor) and ``pil`` (the earlier default); see benchmarks/resize.py.

    python benchmarks/cold_episode.py [--repeats 5] [--backends pyav decord] [--scalers torchvision pil]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
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


def cold_episode(backend: str, pair: int, seed: int) -> tuple[float, dict[str, list[int]]]:
    """Seconds for a cold episode, and the raw frame indices it showed, per video path."""
    from vr_env.env import VRJudgeEnv
    from vr_env.video.sampling import uniform_indices
    from vr_env.video.source import FrameSource

    source = FrameSource(backend=backend, cache_bytes=2 * 1024**3)
    env = VRJudgeEnv(dataset="videogen-reward", data_root=str(DATA), frame_source=source)
    rng = np.random.default_rng(seed)
    n = env.config.total_frames
    start = time.perf_counter()
    env.reset(seed=seed, options={"pair_index": pair})
    for _ in range(3):
        frames = sorted(rng.choice(np.arange(1, n + 1), size=8, replace=False).tolist())
        env.step(TOOL % json.dumps(frames))
    seconds = time.perf_counter() - start
    record = env.dataset[pair]
    shown: dict[str, list[int]] = {}
    for turn in env.context.turns:
        for frame in turn.frames:
            ref = record.video_1 if frame.video == 1 else record.video_2
            candidates = uniform_indices(source.num_frames(ref), env.config.frames_per_video)
            shown.setdefault(ref.path, []).append(int(candidates[frame.position]))
    return seconds, {path: sorted(set(idx)) for path, idx in shown.items()}


def raw_decode(backend: str, shown: dict[str, list[int]]) -> float:
    """One sequential pass per video with the library alone, keeping the shown frames as RGB."""
    start = time.perf_counter()
    for path, indices in shown.items():
        keep, last = set(indices), max(indices)
        if backend == "pyav":
            import av

            with av.open(path) as container:
                stream = container.streams.video[0]
                stream.thread_type = "AUTO"
                for i, frame in enumerate(container.decode(stream)):
                    if i in keep:
                        frame.to_ndarray(format="rgb24")
                    if i >= last:
                        break
        else:
            from vr_env.video.backends import import_decord

            decord = import_decord()
            reader = decord.VideoReader(path, ctx=decord.cpu(0))
            reader.get_batch(indices).asnumpy()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--backends", nargs="+", default=["pyav", "decord"])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--tag", default="", help="suffix for the result files (e.g. -before)")
    parser.add_argument(
        "--scalers", nargs="+", default=["torchvision", "pil"], help="resizes of shown frames to compare (swscale too)"
    )
    args = parser.parse_args()
    import vr_env.video.planar as planar
    import vr_env.video.resize as resize

    resize.resize_method("auto")  # import torch/torchvision before timing
    rows: list[dict[str, Any]] = []
    load_start = os.getloadavg()[0]
    for backend in args.backends:
        for pair in (0, 1):
            episode: dict[str, list[float]] = {s: [] for s in args.scalers}
            raw = []
            for repeat in range(args.repeats):
                # alternating (first scaler, raw decode, other scalers; the order of scalers rotates),
                # so that machine noise hits all alike
                shift = repeat % len(args.scalers)
                order = args.scalers[shift:] + args.scalers[:shift]
                for k, scaler in enumerate(order):
                    planar.RESIZE_SCALER = scaler
                    resize.RESIZE_METHOD = scaler if scaler in resize.RESIZE_METHODS else "auto"
                    seconds, shown = cold_episode(backend, pair, seed=repeat)
                    episode[scaler].append(seconds)
                    if k == 0:
                        raw.append(raw_decode(backend, shown))
            for scaler in args.scalers:
                row = {
                    "backend": backend,
                    "scaler": scaler,
                    "pair": pair,
                    "frames_shown": sum(len(v) for v in shown.values()),
                    "cold_episode_ms": round(1e3 * statistics.median(episode[scaler]), 1),
                    "raw_decode_ms": round(1e3 * statistics.median(raw), 1),
                }
                row["ratio"] = round(row["cold_episode_ms"] / row["raw_decode_ms"], 2)
                rows.append(row)
                print(json.dumps(row))
    command = f"python benchmarks/cold_episode.py --repeats {args.repeats} --backends {' '.join(args.backends)}"
    command += f" --scalers {' '.join(args.scalers)}"
    load = f"1-min load average {load_start:.1f} at the start, {os.getloadavg()[0]:.1f} at the end"
    machine = f"{platform.machine()}, {os.cpu_count()} CPU cores (shared with other work: {load}), no GPU"
    args.out.mkdir(parents=True, exist_ok=True)
    name = f"cold_episode{args.tag}"
    (args.out / f"{name}.json").write_text(json.dumps({"command": command, "machine": machine, "rows": rows}, indent=2))
    lines = [
        "# Cold episode vs raw decode",
        "",
        f"Command: `{command}`  ",
        f"Machine: {machine}. Clips: `videogen-reward-example` (pair 0: 1360x752 + 1280x720; pair 1: 672x384 + 1280x768).",
        "",
        "Cold episode = fresh frame cache, `reset` + 3 tool calls of 8 random frames. Raw decode = one",
        "sequential pass of the same library per video keeping (as RGB) exactly the frames the episode",
        "showed. Medians over repeats, run alternately. Goal: ratio <= 1.3. `torchvision` resizes shown frames",
        "as Qwen2.5-VL's image processor does (the default); `pil` is the earlier PIL bicubic.",
        "",
        "| backend | resize | pair | frames shown | cold episode ms | raw decode ms | ratio |",
        "|---|---|---:|---:|---:|---:|---:|",
        *[
            f"| {r['backend']} | {r['scaler']} | {r['pair']} | {r['frames_shown']} | {r['cold_episode_ms']} | "
            f"{r['raw_decode_ms']} | **{r['ratio']}** |"
            for r in rows
        ],
    ]
    (args.out / f"{name}.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
