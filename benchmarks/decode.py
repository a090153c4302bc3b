"""Decode benchmark for the env's access pattern: which backend and which decode strategy.

One episode on one pair: the candidates of both videos are sampled (F = 48), then the initial
call fetches 4 positions per video (budget 512*28*28), then 3 tool calls fetch 8 positions each,
spread over both videos (budget 400*28*28). Every variant gets the same seeded requests. Measured:
per-call latency and episode total with a cold cache (the first environment on a pair), and the
total of a second episode on the same pair with the cache kept (the other G-1 environments of a
GRPO group). Strategies: "candidates" (first miss decodes all F candidates of the video in one pass,
then cache) and "requested" (decode only what is asked, seeking, each call).

Variants: pyav and decord2 (both strategies), pyav with one decoding thread, decord 0.6.0 and
torchcodec (the one-pass strategy only, to keep the run near 3 minutes on 2 cores). torchcodec runs
with PyAV's FFmpeg libraries on its loader path (``vr_env.video.ffmpeg_libs``). Each runs in a subprocess under
its own interpreter: decord 0.6.0 and decord2 share the import name `decord` and cannot live in one
environment. Variants and repeats are interleaved so that machine noise hits all of them alike;
figures are medians over repeats. Results go to benchmarks/results/decode.{json,md}. Usage:

    python benchmarks/decode.py [--repeats 3] [--variants pyav,decord2] [--python decord06=/path/to/python]

A variant whose interpreter is missing is skipped with a printed reason. Make the decord 0.6.0 one
with: python3 -m venv /tmp/venv-decord06 && /tmp/venv-decord06/bin/pip install decord==0.6.0 numpy av pillow
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
REAL_DIR = REPO.parent / "shared/data/videogen-reward-example/videos"
F = 48
INITIAL_POSITIONS = [F // 4 - 1, F // 2 - 1, 3 * F // 4 - 1, F - 1]  # global 1-based 12, 24, 36, 48 per video
INITIAL_MAX_PIXELS = 512 * 28 * 28
RETRIEVED_MAX_PIXELS = 400 * 28 * 28
TOOL_CALLS = 3
FRAMES_PER_CALL = 8
STRATEGIES = ("candidates", "requested")
# (name, backend, backend options, strategies, default interpreter). decord2 and decord 0.6.0 both
# import as `decord`. The side variants run only the one-pass strategy, to keep the run near 3 minutes.
DEFAULT_VARIANTS = (
    ("pyav", "pyav", {}, STRATEGIES, sys.executable),
    ("decord2", "decord", {}, STRATEGIES, sys.executable),
    ("pyav-1thread", "pyav", {"thread_type": "NONE"}, ("candidates",), sys.executable),
    ("decord06", "decord", {}, ("candidates",), "/tmp/venv-decord06/bin/python"),
    ("torchcodec", "torchcodec", {}, ("candidates",), sys.executable),
)
# Generated pairs: (name, [(width, height, fps, seconds, gop or None = libx264 default)] * 2).
GENERATED = (
    ("gen-480p", [(854, 480, 24, 5.0, None), (854, 480, 30, 4.0, None)]),
    ("gen-720p", [(1280, 720, 24, 6.0, None), (1280, 720, 30, 5.0, None)]),
    ("gen-720p-gop1s", [(1280, 720, 24, 6.0, 24), (1280, 720, 30, 5.0, 30)]),
)


# -- clips ------------------------------------------------------------------------------------------


def make_clip(path: Path, width: int, height: int, fps: int, seconds: float, gop: int | None, seed: int) -> None:
    """An H.264 clip with camera pan over a textured scene and a moving object (yuv420p, CRF 23)."""
    import av
    from PIL import Image

    rng = np.random.default_rng(seed)
    n = round(fps * seconds)
    pan = 2 * n
    small = rng.integers(0, 256, (height // 16 + 2, (width + pan) // 16 + 2, 3), dtype=np.uint8)
    scene = np.asarray(Image.fromarray(small).resize((width + pan + 32, height + 32), Image.Resampling.BICUBIC))
    scene = np.clip(scene.astype(np.int16) + rng.integers(-12, 13, scene.shape), 0, 255).astype(np.uint8)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("h264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "23", "preset": "veryfast"}
        if gop:
            stream.codec_context.gop_size = gop
        for i in range(n):
            frame = scene[16 : 16 + height, 2 * i : 2 * i + width].copy()
            x = int((width - 80) * (0.5 + 0.4 * math.sin(i / 10)))
            y = int((height - 80) * (0.5 + 0.4 * math.cos(i / 13)))
            frame[y : y + 80, x : x + 80] = (230, 40, 40)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def collect_pairs(clips_dir: Path, real_dir: Path) -> list[dict]:
    """The 2 real pairs (if present) and the generated ones, as {name, videos: [paths], info}."""
    pairs = []
    if real_dir.is_dir():
        for k in (1, 2):
            videos = [real_dir / f"example_{k}_{s}.mp4" for s in "AB"]
            if all(v.is_file() for v in videos):
                pairs.append({"name": f"real-{k}", "videos": [str(v) for v in videos]})
    else:
        print(f"skipping the real clips: {real_dir} not found")
    clips_dir.mkdir(parents=True, exist_ok=True)
    seed = 0
    for name, specs in GENERATED:
        videos = []
        for j, (w, h, fps, sec, gop) in enumerate(specs):
            path = clips_dir / f"{name}-{j}.mp4"
            seed += 1
            if not path.is_file():
                make_clip(path, w, h, fps, sec, gop, seed)
            videos.append(str(path))
        pairs.append({"name": name, "videos": videos})
    return pairs


def describe(path: str) -> dict:
    import av

    with av.open(path) as c:
        s = c.streams.video[0]
        keys = sum(1 for p in c.demux(s) if p.size and p.is_keyframe)
        return {
            "file": Path(path).name,
            "size": f"{s.width}x{s.height}",
            "fps": float(s.average_rate or 0),
            "frames": int(s.frames),
            "keyframes": keys,
            "MB": round(os.path.getsize(path) / 1e6, 2),
        }


def episode_plan(seed: int) -> list[list[list[int]]]:
    """Per call, per video, the candidate positions: initial call then seeded tool calls."""
    rng = np.random.default_rng(seed)
    calls = [[INITIAL_POSITIONS, INITIAL_POSITIONS]]
    for _ in range(TOOL_CALLS):
        picked = np.sort(rng.choice(2 * F, size=FRAMES_PER_CALL, replace=False))
        calls.append([[int(g % F) for g in picked if g // F == v] for v in (0, 1)])
    return calls


# -- worker (runs under the variant's interpreter) --------------------------------------------------


def _import_video_layer():
    """Import vr_env.video; if the package __init__ needs what this interpreter lacks, skip it."""
    sys.path.insert(0, str(REPO))
    try:
        import vr_env.video as video
    except ImportError:
        for name in [m for m in sys.modules if m == "vr_env" or m.startswith("vr_env.")]:
            del sys.modules[name]
        package = types.ModuleType("vr_env")
        package.__path__ = [str(REPO / "vr_env")]
        sys.modules["vr_env"] = package
        import vr_env.video as video
    from vr_env.data.records import VideoRef

    return video, VideoRef


def run_episode(source, refs, plan) -> list[float]:
    """Latency (s) of each call of one episode; a call covers both videos."""
    latencies = []
    for k, call in enumerate(plan):
        budget = INITIAL_MAX_PIXELS if k == 0 else RETRIEVED_MAX_PIXELS
        start = time.perf_counter()
        for ref, positions in zip(refs, call, strict=True):
            if positions:
                source.frames(ref, positions, F, budget)
        latencies.append(time.perf_counter() - start)
    return latencies


def worker(spec: dict) -> dict:
    import importlib

    video, VideoRef = _import_video_layer()
    name = spec["backend"]
    module = importlib.import_module({"decord": "decord", "torchcodec": "torchcodec"}.get(name, "av"))
    factories = {"decord": video.backends.DecordBackend, "torchcodec": video.backends.TorchCodecBackend}
    backend = factories.get(name, video.backends.PyAVBackend)(**spec["options"])
    out = {"module_version": module.__version__, "python": platform.python_version(), "runs": []}
    jobs = [(p, s) for p in spec["pairs"] for s in spec["strategies"]]
    shift = spec["repeat"] % len(jobs)
    for pair, strategy in jobs[shift:] + jobs[:shift]:
        refs = [VideoRef(v) for v in pair["videos"]]
        source = video.FrameSource(backend, cache=video.FrameCache(8 * 1024**3), strategy=strategy)
        cpu = time.process_time()
        cold = run_episode(source, refs, pair["plans"][0])
        cold_cpu = time.process_time() - cpu
        warm = run_episode(source, refs, pair["plans"][1])
        out["runs"].append(
            {
                "pair": pair["name"],
                "strategy": strategy,
                "cold_calls": cold,
                "cold_cpu": cold_cpu,
                "warm_calls": warm,
                "cache_MB": round(source.cache.nbytes / 1e6, 1),
            }
        )
    return out


# -- driver -----------------------------------------------------------------------------------------


def run_variant(python: str, backend: str, options: dict, strategies, pairs: list[dict], repeat: int) -> dict:
    spec = {"backend": backend, "options": options, "strategies": list(strategies), "pairs": pairs, "repeat": repeat}
    proc = subprocess.run(
        [python, __file__, "--worker", json.dumps(spec)],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
        env=_variant_env(backend),
    )
    if proc.returncode:
        raise RuntimeError(f"worker failed ({python}, {backend}):\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _variant_env(backend: str) -> dict[str, str]:
    """The worker's environment: the repository on the path; for torchcodec, PyAV's FFmpeg libraries."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    if backend == "torchcodec":
        sys.path.insert(0, str(REPO))
        from vr_env.video.ffmpeg_libs import pyav_library_path

        env["LD_LIBRARY_PATH"] = os.pathsep.join(filter(None, [pyav_library_path(), env.get("LD_LIBRARY_PATH")]))
    return env


def _probe(python: str, backend: str) -> str | None:
    """None if the interpreter exists and imports the backend module, else the reason not."""
    if not Path(python).is_file():
        return f"interpreter {python} not found"
    module = {"decord": "decord", "torchcodec": "torchcodec.decoders"}.get(backend, "av")
    proc = subprocess.run(
        [python, "-c", f"import {module}, numpy, PIL"],
        capture_output=True,
        text=True,
        check=False,
        env=_variant_env(backend),
    )
    return None if proc.returncode == 0 else f"{python} cannot import {module}: {proc.stderr.strip()[-200:]}"


def summarize(raw: dict[str, list[dict]], pairs: list[dict]) -> dict:
    summary: dict = {}
    for variant, repeats in raw.items():
        for pair in pairs:
            for strategy in STRATEGIES:
                runs = [
                    r for rep in repeats for r in rep["runs"] if r["pair"] == pair["name"] and r["strategy"] == strategy
                ]
                if not runs:
                    continue
                tool = [c for r in runs for c in r["cold_calls"][1:]]
                summary.setdefault(variant, {}).setdefault(pair["name"], {})[strategy] = {
                    "cold_total_ms": round(1000 * statistics.median(sum(r["cold_calls"]) for r in runs), 1),
                    "initial_ms": round(1000 * statistics.median(r["cold_calls"][0] for r in runs), 1),
                    "cold_cpu_ms": round(1000 * statistics.median(r["cold_cpu"] for r in runs), 1),
                    "tool_call_ms": round(1000 * statistics.median(tool), 1),
                    "tool_call_max_ms": round(1000 * max(tool), 1),
                    "warm_total_ms": round(1000 * statistics.median(sum(r["warm_calls"]) for r in runs), 1),
                    "cache_MB": runs[0]["cache_MB"],
                }
    return summary


def geomean(values: list[float]) -> float:
    return math.exp(statistics.fmean(math.log(v) for v in values))


def write_markdown(path: Path, result: dict) -> None:
    summary, variants = result["summary"], list(result["summary"])
    lines = [
        "# Decode benchmark (benchmarks/decode.py)",
        "",
        f"{result['machine']}; {result['repeats']} repeats, medians; F = {F}, initial 4 + 4 frames at 512*28*28,",
        f"{TOOL_CALLS} tool calls of {FRAMES_PER_CALL} frames over both videos at 400*28*28. Times in ms for both videos of a pair.",
        "cold = first episode on the pair (empty cache); warm = a second episode on the same pair (cache kept:",
        "what the other environments of a GRPO group pay). Variants: "
        + ", ".join(f"{v} ({result['versions'][v]})" for v in variants)
        + ".",
        "",
        "## Clips",
        "",
        "| pair | video | size | fps | frames | keyframes | MB |",
        "|---|---|---|---|---|---|---|",
    ]
    for pair in result["pairs"]:
        for d in pair["info"]:
            lines.append(
                f"| {pair['name']} | {d['file']} | {d['size']} | {d['fps']:g} | {d['frames']} | {d['keyframes']} | {d['MB']} |"
            )
    lines += ["", "## Episode totals, cold (initial call / median tool call) and warm", ""]
    header = "| pair | strategy | " + " | ".join(variants) + " |"
    lines += [header, "|---|---|" + "---|" * len(variants)]
    for pair in result["pairs"]:
        for strategy in STRATEGIES:
            cells = []
            for v in variants:
                s = summary[v][pair["name"]].get(strategy)
                if s is None:
                    cells.append("-")
                    continue
                cells.append(
                    f"{s['cold_total_ms']:.0f} ({s['initial_ms']:.0f} / {s['tool_call_ms']:.0f}), warm {s['warm_total_ms']:.0f}"
                )
            lines.append(f"| {pair['name']} | {strategy} | " + " | ".join(cells) + " |")
    lines += ["", "## Geometric mean over pairs (ms) and ratios", ""]
    lines += [
        "| variant | strategy | cold total | cold CPU (all threads) | warm total | cold vs best |",
        "|---|---|---|---|---|---|",
    ]
    best = result["choice"]["cold_geomean_ms"]
    for row in result["overall"]:
        lines.append(
            f"| {row['variant']} | {row['strategy']} | {row['cold_geomean_ms']:.0f} | {row['cold_cpu_geomean_ms']:.0f} "
            f"| {row['warm_geomean_ms']:.0f} "
            f"| {row['cold_geomean_ms'] / best:.2f}x |"
        )
    c = result["choice"]
    lines += [
        "",
        f"Fastest cold episode: **{c['variant']} + {c['strategy']}** (backend `{c['backend']}`, options {c['options']}).",
        "",
    ]
    path.write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--python", action="append", default=[], metavar="VARIANT=PATH", help="interpreter per variant")
    parser.add_argument("--clips-dir", type=Path, help="keep generated clips here (default: a temporary folder)")
    parser.add_argument("--real-dir", type=Path, default=REAL_DIR)
    parser.add_argument("--out-dir", type=Path, default=REPO / "benchmarks/results")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variants", help="comma-separated subset of: " + ", ".join(v[0] for v in DEFAULT_VARIANTS))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return

    started = time.perf_counter()
    interpreters = {v[0]: v[-1] for v in DEFAULT_VARIANTS}
    for item in args.python:
        name, _, python = item.partition("=")
        if name not in interpreters:
            parser.error(f"unknown variant {name!r}; variants: {sorted(interpreters)}")
        interpreters[name] = python
    selected = args.variants.split(",") if args.variants else list(interpreters)
    variants = []
    for name, backend, options, strategies, _ in DEFAULT_VARIANTS:
        if name not in selected:
            continue
        reason = _probe(interpreters[name], backend)
        if reason:
            print(f"skipping variant {name}: {reason}")
        else:
            variants.append((name, backend, options, strategies, interpreters[name]))
    if not variants:
        sys.exit("no variant can run")

    with tempfile.TemporaryDirectory() as tmp:
        clips_dir = args.clips_dir or Path(tmp)
        pairs = collect_pairs(clips_dir, args.real_dir)
        for k, pair in enumerate(pairs):
            pair["plans"] = [episode_plan(args.seed + 2 * k), episode_plan(args.seed + 2 * k + 1)]
            pair["info"] = [describe(v) for v in pair["videos"]]
        print(f"{len(pairs)} pairs ready after {time.perf_counter() - started:.0f} s")
        raw: dict[str, list[dict]] = {v[0]: [] for v in variants}
        for r in range(args.repeats):
            order = variants[r % len(variants) :] + variants[: r % len(variants)]
            jobs = [{k: p[k] for k in ("name", "videos", "plans")} for p in pairs]
            for name, backend, options, strategies, python in order:
                raw[name].append(run_variant(python, backend, options, strategies, jobs, r))
            print(f"repeat {r + 1}/{args.repeats} done at {time.perf_counter() - started:.0f} s")

    summary = summarize(raw, pairs)
    overall = []
    for name, backend, options, strategies, _ in variants:
        for strategy in strategies:
            rows = [summary[name][p["name"]][strategy] for p in pairs]
            overall.append(
                {
                    "variant": name,
                    "backend": backend,
                    "options": options,
                    "strategy": strategy,
                    "cold_geomean_ms": round(geomean([r["cold_total_ms"] for r in rows]), 1),
                    "warm_geomean_ms": round(geomean([r["warm_total_ms"] for r in rows]), 1),
                    "cold_cpu_geomean_ms": round(geomean([r["cold_cpu_ms"] for r in rows]), 1),
                }
            )
    choice = min(overall, key=lambda row: row["cold_geomean_ms"])
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "repeats": args.repeats,
        "versions": {v[0]: raw[v[0]][0]["module_version"] for v in variants},
        "pairs": [{k: p[k] for k in ("name", "info", "plans")} for p in pairs],
        "summary": summary,
        "overall": overall,
        "choice": choice,
        "runtime_s": round(time.perf_counter() - started, 1),
        "raw": raw,
    }
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "decode.json").write_text(json.dumps(result, indent=1))
    write_markdown(args.out_dir / "decode.md", result)
    for row in overall:
        print(
            f"{row['variant']:>9} {row['strategy']:>10}: cold {row['cold_geomean_ms']:7.0f} ms, warm {row['warm_geomean_ms']:7.0f} ms"
        )
    print(f"fastest: {choice['variant']} + {choice['strategy']}; wrote {args.out_dir}/decode.json and decode.md")
    print(f"total {result['runtime_s']:.0f} s")


if __name__ == "__main__":
    main()
