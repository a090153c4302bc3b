"""Baseline agents (random, answer-now, scanner) on the synthetic benchmark, with reference rows.

Main table: the default synthetic benchmark (``SyntheticConfig()``, seed 0), the first ``--n`` pairs,
each also judged with the videos swapped. Stress variants change the generator: shorter defect
windows (``defect_extent=0.05``: 2-3 candidate frames, thinner than the scanner's sampling) and
graded labels (``severity_levels=2, max_defects_per_dimension=2``: labels compare severity sums,
which the presence-only baselines do not estimate).

    python benchmarks/baselines.py [--n 200] [--out benchmarks/results] [--no-variants]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Any

from vr_env.eval import evaluate
from vr_env.eval.report import pct

AGENTS: tuple[str, ...] = ("random", "answer-now", "scanner")
VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "short defect windows (defect_extent=0.05)": {"defect_extent": 0.05},
    "graded labels (severity_levels=2, max_defects_per_dimension=2)": {
        "severity_levels": 2,
        "max_defects_per_dimension": 2,
    },
}
KEPT = (
    "n",
    "tau",
    "diff",
    "per_dimension",
    "swap_consistency",
    "swap_consistency_all_keys",
    "tau_swapped",
    "tool_calls_mean",
    "frames_fetched_mean",
    "turns_mean",
    "invalid_turn_rate",
    "format_ok_rate",
    "return_mean",
    "skipped",
)


def run_variant(dataset_kwargs: dict[str, Any], n: int, seed: int, swap_check: bool) -> dict[str, Any]:
    """Every agent on one generator setting; reference rows from the (shared) labels."""
    env_kwargs = {"dataset": "synthetic", "dataset_kwargs": {"n": n, **dataset_kwargs}}
    agents: dict[str, Any] = {}
    reference: dict[str, Any] = {}
    for name in AGENTS:
        start = time.perf_counter()
        metrics = evaluate(name, env_kwargs, limit=n, swap_check=swap_check, seed=seed, progress=True)
        seconds = time.perf_counter() - start
        episodes = metrics["n"] * (2 if swap_check else 1)
        agents[name] = {k: metrics[k] for k in KEPT} | {
            "seconds": round(seconds, 2),
            "episodes_per_second": round(episodes / seconds, 2),
        }
        reference = metrics["reference"]
    return {"dataset_kwargs": dataset_kwargs, "agents": agents, "reference": reference}


def markdown(results: dict[str, Any]) -> str:
    setup = results["setup"]
    lines = [
        "# Baseline agents on the synthetic benchmark",
        "",
        f"`python benchmarks/baselines.py --n {setup['n']}`; first {setup['n']} pairs of each generator "
        f"setting (generator seed 0), agent seed {setup['seed']}, every pair also judged swapped "
        f"({'yes' if setup['swap_check'] else 'no'}). Env defaults: N = 96 (48 per video), 8 initial frames, "
        f"3 tool calls of up to 8 frames, memory window 1. Machine: {setup['machine']}. Accuracies in %.",
        "",
    ]
    for variant, block in results["variants"].items():
        lines += [
            f"## {variant}",
            "",
            "| judge | tau | diff | TA | VQ | MQ | swap consistency | tool calls | frames fetched | "
            "invalid turns | format ok | episodes/s |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for name, m in block["agents"].items():
            dims = " | ".join(pct(m["per_dimension"][d]) for d in ("TA", "VQ", "MQ"))
            lines.append(
                f"| **{name}** | {pct(m['tau'])} | {pct(m['diff'])} | {dims} | {pct(m['swap_consistency'])} | "
                f"{m['tool_calls_mean']:.1f} | {m['frames_fetched_mean']:.1f} | {pct(m['invalid_turn_rate'])} | "
                f"{pct(m['format_ok_rate'])} | {m['episodes_per_second']:.1f} |"
            )
        for name, r in block["reference"].items():
            dims = " | ".join(pct(r["per_dimension"][d]) for d in ("TA", "VQ", "MQ"))
            lines.append(f"| {name} | {pct(r['tau'])} | {pct(r['diff'])} | {dims} | | | | | | |")
        lines.append("")
    lines += [
        "Reference rows use the same labels: constant answers, and the exact expected accuracy of a uniformly",
        "random answer among 1/2/0 (random-3way) or 1/2 (random-2way); the `random` agent row is a seeded draw.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="pairs per setting (200)")
    parser.add_argument("--seed", type=int, default=0, help="agent seed (0)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--no-swap-check", action="store_true")
    parser.add_argument("--no-variants", action="store_true", help="only the default generator setting")
    args = parser.parse_args(argv)
    variants = {"default": {}} if args.no_variants else VARIANTS
    results = {
        "setup": {
            "n": args.n,
            "seed": args.seed,
            "swap_check": not args.no_swap_check,
            "machine": f"{platform.processor() or platform.machine()}, Python {platform.python_version()}",
        },
        "variants": {
            name: run_variant(kwargs, args.n, args.seed, not args.no_swap_check) for name, kwargs in variants.items()
        },
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "baselines.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    (args.out / "baselines.md").write_text(markdown(results), encoding="utf-8")
    print(markdown(results))


if __name__ == "__main__":
    main()
