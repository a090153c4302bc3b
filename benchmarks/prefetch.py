"""Decode ahead: evaluation throughput with 0, 1 and 2 prefetch workers, and a sleeping policy.

Data: the 2 real pairs of ``shared/data/videogen-reward-example``, repeated (each repeat uses copies
of the clips under new names, so the frame cache cannot serve one repeat from another). Agent: the
scanner (3 tool calls of 8 frames, then an answer), one environment.

1. Throughput: ``evaluate("scanner", ..., prefetch=W)`` for W = 0 (decode in the driver's thread),
   1 and 2, each run in a fresh interpreter, runs interleaved over repeats. Reported: pairs/s, CPU
   seconds per pair (all threads of the process), and how busy the machine was with other work
   during the run (from /proc/stat: CPU time of everything else / (wall x cores)).
2. Sleeping policy: the scanner wrapped to sleep T s per turn, T set so that a pair's policy time is
   about its decode time. Expected wall with prefetch: sum over pairs of max(policy, decode), where
   decode is the pair's time in a run without sleep or prefetch; without prefetch: their sum.

    python benchmarks/prefetch.py [--copies 6] [--repeats 3] [--out benchmarks/results]

The lead's quiet-machine rerun is the same command; figures land in benchmarks/results/prefetch.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO.parent / "shared/data/videogen-reward-example"


def make_dataset(root: Path, copies: int) -> Path:
    """``root/example.csv`` with the example's pairs ``copies`` times, each copy on its own clip files."""
    lines = (EXAMPLE / "example.csv").read_text().splitlines()
    header, rows = lines[0], lines[1:]
    (root / "videos").mkdir(parents=True, exist_ok=True)
    out = [header]
    for c in range(copies):
        for row in rows:
            for name in sorted({p for p in row.split(",") if p.endswith(".mp4")}):
                clip = Path(name).name
                copy = f"videos/c{c}_{clip}"
                if not (root / copy).exists():
                    shutil.copyfile(EXAMPLE / "videos" / clip, root / copy)
                row = row.replace(name, copy)
            out.append(row)
    (root / "example.csv").write_text("\n".join(out) + "\n")
    return root


def cpu_busy() -> tuple[float, float]:
    """(busy CPU seconds of the whole machine, this process's CPU seconds), for the load estimate."""
    fields = [float(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields) - idle) / os.sysconf("SC_CLK_TCK"), time.process_time()


class Sleeping:
    """The scanner, sleeping ``seconds`` before each turn (a slow judge: a GPU model, a remote API)."""

    def __init__(self, seconds: float) -> None:
        from vr_env.agent_registry import make_agent

        self.agent = make_agent("scanner", seed=0)
        self.seconds = seconds

    def reset(self, seed: int | None = None) -> None:
        self.agent.reset(seed)

    def act(self, observation: Any, info: Any) -> str:
        time.sleep(self.seconds)
        return self.agent.act(observation, info)


def worker(spec: dict[str, Any]) -> dict[str, Any]:
    """One evaluation in this interpreter: wall, CPU, per-pair finishing times, machine load."""
    from vr_env.eval.runner import evaluate
    from vr_env.video import FrameSource
    from vr_env.video.prefetch import PrefetchConfig
    from vr_env.video.resize import resize_method

    resize_method()  # import torch/torchvision before timing
    source = FrameSource(backend=spec["backend"], cache_bytes=4 * 1024**3)
    agent: Any = Sleeping(spec["sleep"]) if spec["sleep"] else "scanner"
    ends: list[float] = []
    turns: list[int] = []
    steps: list[float] = []
    busy0, cpu0 = cpu_busy()
    start = time.perf_counter()

    def on_episode(result: Any) -> None:
        ends.append(time.perf_counter() - start)
        turns.append(result.turns)
        steps.append(result.seconds)  # from the end of reset to the end of the episode

    metrics = evaluate(
        agent,
        {"dataset": "videogen-reward", "data_root": spec["root"]},
        frame_source=source,
        prefetch=parse_variant(spec["workers"], PrefetchConfig),
        progress=False,
        on_episode=on_episode,
    )
    wall = time.perf_counter() - start
    busy1, cpu1 = cpu_busy()
    cores = os.cpu_count() or 1
    cpu = cpu1 - cpu0
    return {
        "wall": wall,
        "cpu": cpu,
        "pairs": len(ends),
        "ok": metrics.get("episodes_ok", metrics.get("n_ok")),
        "ends": ends,
        "turns": turns,
        "steps": steps,
        "others_busy": max(0.0, (busy1 - busy0) - cpu) / (wall * cores),
    }


def parse_variant(variant: str, config: Any) -> Any:
    """``"2"``: 2 workers, each decode with FFmpeg's threads (the default); ``"2s"``: single-threaded
    decodes; ``"2c"``: also converting every candidate at the tool's budget ahead (``convert_ahead``);
    ``"default"``: ``PrefetchConfig()`` (the cores, at most 4); ``"default-c"``: that, converting ahead."""
    if variant.startswith("default"):
        return config(convert_ahead=variant.endswith("-c"))
    workers = int(variant.rstrip("sc"))
    return config(workers=workers, single_threaded="s" in variant, convert_ahead="c" in variant)


def run(spec: dict[str, Any]) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, __file__, "--worker", json.dumps(spec)],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    if proc.returncode:
        raise RuntimeError(f"worker failed: {proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=6, help="repeats of the 2 example pairs (pairs = 2 x copies)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each variant, interleaved (medians)")
    parser.add_argument("--backend", default="pyav")
    parser.add_argument(
        "--workers",
        nargs="+",
        default=["0", "1", "2", "1s", "2s", "1c", "2c"],
        help="variants: N workers (FFmpeg's threads on, the default), Ns decoding single-threaded, Nc also "
        "converting every candidate ahead (convert_ahead); 0: off",
    )
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results")
    parser.add_argument(
        "--parts",
        nargs="+",
        choices=["throughput", "sleeping"],
        default=["throughput", "sleeping"],
        help="what to measure; a part left out keeps its figures from the existing --out/prefetch.json",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        root = str(make_dataset(Path(tmp), args.copies))
        base = {"root": root, "backend": args.backend, "sleep": 0.0}
        previous = json.loads((args.out / "prefetch.json").read_text()) if len(args.parts) < 2 else {}
        runs: dict[str, list[dict[str, Any]]] = {w: [] for w in args.workers}
        for r in range(args.repeats if "throughput" in args.parts else 0):
            order = args.workers[r % len(args.workers) :] + args.workers[: r % len(args.workers)]
            for w in order:
                runs[w].append(run({**base, "workers": w}))
                print(f"repeat {r + 1}, workers {w}: {runs[w][-1]['wall']:.1f} s", flush=True)
        throughput = previous.get("throughput", []) if "throughput" not in args.parts else []
        for w, rs in runs.items():
            if not rs:
                continue
            pairs = rs[0]["pairs"]
            throughput.append(
                {
                    "workers": w,
                    "pairs": pairs,
                    "wall_s": round(statistics.median(r["wall"] for r in rs), 2),
                    "pairs_per_s": round(statistics.median(r["pairs"] / r["wall"] for r in rs), 3),
                    "cpu_s_per_pair": round(statistics.median(r["cpu"] / r["pairs"] for r in rs), 3),
                    "others_busy": round(statistics.median(r["others_busy"] for r in rs), 2),
                    "walls": [round(r["wall"], 2) for r in rs],
                }
            )
        by = {t["workers"]: t for t in throughput}

        # Sleeping policy: per-pair decode time from a run without sleep or prefetch, just before.
        sleeping: dict[str, list[dict[str, Any]]] = {"ref": [], "on": [], "convert": [], "off": []}
        for _ in range(args.repeats if "sleeping" in args.parts else 0):
            reference = run({**base, "workers": "0"})
            ends = reference["ends"]
            decode = [b - a for a, b in zip([0.0, *ends[:-1]], ends, strict=True)]
            sleep = statistics.fmean(decode) / statistics.fmean(reference["turns"])
            policy = [sleep * t for t in reference["turns"]]
            on = run({**base, "workers": "default", "sleep": sleep})
            convert = run({**base, "workers": "default-c", "sleep": sleep})
            off = run({**base, "workers": "0", "sleep": sleep})
            # B: only the reset (the decode prefetch moves) as decode time; the steps stay with the policy
            resets = [max(0.0, d - e) for d, e in zip(decode, reference["steps"], strict=True)]
            with_steps = [p + e for p, e in zip(policy, reference["steps"], strict=True)]
            sleeping["ref"].append(
                {
                    "sleep": sleep,
                    "sum_max": sum(max(p, d) for p, d in zip(policy, decode, strict=True)),
                    "sum": sum(p + d for p, d in zip(policy, decode, strict=True)),
                    "sum_max_reset": sum(max(p, r) for p, r in zip(with_steps, resets, strict=True)),
                    "first_decode": decode[0],
                }
            )
            sleeping["on"].append(on)
            sleeping["convert"].append(convert)
            sleeping["off"].append(off)
            print(
                f"sleeping: prefetch {on['wall']:.1f} s, converting ahead {convert['wall']:.1f} s, "
                f"none {off['wall']:.1f} s",
                flush=True,
            )

    def med(values: Any) -> float:
        return float(statistics.median(values))

    refs, ons, offs, converts = sleeping["ref"], sleeping["on"], sleeping["off"], sleeping["convert"]
    if not ons:
        sleep_result = previous["sleeping_policy"]
    else:
        sleep_result = {
            "sleep_per_turn_s": round(med(r["sleep"] for r in refs), 3),
            "pairs": ons[0]["pairs"],
            "sum_max_s": round(med(r["sum_max"] for r in refs), 2),
            "sum_s": round(med(r["sum"] for r in refs), 2),
            "wall_prefetch_s": round(med(r["wall"] for r in ons), 2),
            "wall_no_prefetch_s": round(med(r["wall"] for r in offs), 2),
            "prefetch_vs_sum_max": round(med(o["wall"] / r["sum_max"] for o, r in zip(ons, refs, strict=True)), 3),
            "sum_max_reset_s": round(med(r["sum_max_reset"] for r in refs), 2),
            "prefetch_vs_sum_max_reset": round(
                med(o["wall"] / r["sum_max_reset"] for o, r in zip(ons, refs, strict=True)), 3
            ),
            "no_prefetch_vs_sum": round(med(o["wall"] / r["sum"] for o, r in zip(offs, refs, strict=True)), 3),
            "wall_convert_ahead_s": round(med(r["wall"] for r in converts), 2),
            "convert_ahead_vs_sum_max": round(
                med(c["wall"] / r["sum_max"] for c, r in zip(converts, refs, strict=True)), 3
            ),
            "first_pair_decode_s": round(med(r["first_decode"] for r in refs), 2),
            "cpu_s_per_pair_prefetch": round(med(o["cpu"] / o["pairs"] for o in ons), 3),
            "cpu_s_per_pair_convert_ahead": round(med(c["cpu"] / c["pairs"] for c in converts), 3),
            "others_busy": round(med(r["others_busy"] for r in ons), 2),
            "runs": [
                {
                    "prefetch_s": round(o["wall"], 2),
                    "no_prefetch_s": round(f["wall"], 2),
                    "convert_ahead_s": round(c["wall"], 2),
                    "sum_max_s": round(r["sum_max"], 2),
                }
                for o, f, c, r in zip(ons, offs, converts, refs, strict=True)
            ],
            "workers": "default",
        }
    ratios = {
        f"{two} vs {one}": round(by[two]["pairs_per_s"] / by[one]["pairs_per_s"], 2)
        for one, two in (("1", "2"), ("1s", "2s"), ("1c", "2c"))
        if one in by and two in by
    }
    load = os.getloadavg()
    result = {
        "command": f"python benchmarks/prefetch.py --copies {args.copies} --repeats {args.repeats}"
        + ("" if len(args.parts) == 2 else f" --parts {' '.join(args.parts)}"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}",
        "load_average_at_end": [round(x, 2) for x in load],
        "backend": args.backend,
        "throughput": throughput,
        "two_vs_one_worker": ratios,
        "sleeping_policy": sleep_result,
        "runtime_s": round(time.perf_counter() - started, 1),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "prefetch.json").write_text(json.dumps(result, indent=2) + "\n")
    write_markdown(args.out / "prefetch.md", result)
    print(json.dumps({k: result[k] for k in ("throughput", "two_vs_one_worker", "sleeping_policy")}, indent=1))


def write_markdown(path: Path, result: dict[str, Any]) -> None:
    s = result["sleeping_policy"]
    lines = [
        "# Decode ahead (benchmarks/prefetch.py)",
        "",
        f"Command: `{result['command']}`  ",
        f"Machine: {result['machine']}; backend {result['backend']}. `others busy`: the share of all cores",
        "used by other processes during the run (from /proc/stat); on a quiet machine it is about 0.",
        "",
        "Scanner agent, one environment, the 2 example pairs repeated on copied clips (no cache hits between",
        "copies). Medians over interleaved runs, each in a fresh interpreter.",
        "",
        "| prefetch workers (s: single-threaded decodes) | pairs | wall s | pairs/s | CPU s per pair | others busy | runs (wall s) |",
        "|---:|---:|---:|---:|---:|---:|---|",
        *[
            f"| {t['workers']} | {t['pairs']} | {t['wall_s']} | {t['pairs_per_s']} | {t['cpu_s_per_pair']} | "
            f"{t['others_busy']:.0%} | {', '.join(map(str, t['walls']))} |"
            for t in result["throughput"]
        ],
        "",
        "2 workers vs 1, pairs/s: "
        + ", ".join(f"{k}: **{v}x**" for k, v in result["two_vs_one_worker"].items())
        + " (target >= 1.7 on 2 cores when nothing else runs).",
        "",
        "## A slow policy",
        "",
        f"The scanner sleeping {s['sleep_per_turn_s']} s per turn ({s['pairs']} pairs; a pair's policy time is then",
        "about its decode time, taken from a run without sleep or prefetch just before; medians of the ratios).",
        "The first pair cannot overlap with anything (the policy needs its frames), so the ratio includes one",
        "pair's decode time.",
        "",
        "| | wall s | reference s | ratio |",
        "|---|---:|---:|---:|",
        f"| prefetch ({s['workers']}) | {s['wall_prefetch_s']} | sum of max(policy, decode) {s['sum_max_s']} | "
        f"**{s['prefetch_vs_sum_max']}** |",
        f"| prefetch, converting ahead ({s['workers']}, `convert_ahead`) | {s['wall_convert_ahead_s']} | "
        f"sum of max(policy, decode) {s['sum_max_s']} | **{s['convert_ahead_vs_sum_max']}** |",
        f"| no prefetch | {s['wall_no_prefetch_s']} | sum of policy + decode {s['sum_s']} | {s['no_prefetch_vs_sum']} |",
        f"| prefetch, split reference | {s['wall_prefetch_s']} | sum of max(policy + steps, reset) "
        f"{s.get('sum_max_reset_s', '-')} | {s.get('prefetch_vs_sum_max_reset', '-')} |",
        "",
        "Decode time in the first row is a pair's whole time in the run without sleep or prefetch (its",
        "reset, where the decoding happens, and its steps: fetched frames converted and resized, the",
        "scanner's own work); the split reference counts only the reset as decode time and the steps with",
        "the policy, since a step cannot overlap with the policy turn that asked for it (one environment).",
        "Converting ahead (`PrefetchConfig(convert_ahead=True)`, `vr-env eval --convert-ahead`) moves those",
        "steps' conversions into the workers: every candidate frame at the tool's budget, fetched or not.",
        f"CPU per pair: {s.get('cpu_s_per_pair_prefetch', '-')} s with prefetch, "
        f"{s.get('cpu_s_per_pair_convert_ahead', '-')} s converting ahead.",
        f"The first pair's decode, which nothing can overlap: {s.get('first_pair_decode_s', '-')} s.",
        "",
        f"Machine load during the prefetch run: others busy {s['others_busy']:.0%}.",
        "",
        "## Reading these figures",
        "",
        "CPU seconds per pair do not depend on the load: they bound what the cores can give (2 cores: at best",
        "2 / CPU-per-pair pairs/s with every core busy on this run). Pairs/s do depend on it: with other",
        "processes using a share of the cores, this one got about cores x (1 - others busy), and the",
        "scheduler shares CPU per thread, so variants with more threads get more of it. On a loaded machine",
        "the 2-vs-1 ratio and the sleeping-policy ratio measure the contention more than prefetch; rerun",
        "the command on a quiet machine for the targets (2 workers >= 1.7x one; sleeping wall within 10 %",
        "of the sum of max(policy, decode)).",
        "",
    ]
    path.write_text("\n".join(lines))


if __name__ == "__main__":
    main()
