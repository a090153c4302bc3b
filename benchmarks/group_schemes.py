"""Group-scoring schemes: ranking accuracy against judge cost, with a scripted judge of known accuracy and bias.

Each video of a group has a hidden quality ``q = m + N(0, 1)``, the group's level ``m ~ U(-1, 1)``
(generations improve over training). The scripted judge says "first wins" with
probability ``sigmoid(beta * (q_first - q_second) + h)``: ``beta`` sets its accuracy, ``h`` its
preference for the first position; every dimension gets the same answer. For each scheme (the real
:func:`agents.judge.groups.score_groups` code path, with the judge swapped for the script) and group
size G = 8 and 16, over ``--groups`` groups: Kendall's tau-b between the scores and the true
qualities, judge calls per group, tau per judge call, the score spread a constant judge leaves
(0 = no position reward), and, pooled over groups, the Pearson correlation of scores with the
absolute quality (only anchor scores are on a scale shared by groups).

Usage: ``python benchmarks/group_schemes.py [--groups 300] [--out benchmarks/results]``
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

from agents.judge.config import JudgeConfig
from agents.judge.groups import score_groups
from agents.judge.judge import Comparison, JudgeRun
from agents.judge.verdict import Verdict

KEYS = ("TA", "VQ", "MQ", "OA")
#: Groups differ in level (as generations improve over training): q = U(-LEVEL, LEVEL) + N(0, 1).
LEVEL = 1.0
#: Reference qualities of the anchor schemes (a fixed set: the same for every group and step).
REFERENCES = {2: [-0.5, 0.5], 4: [-1.0, -0.3, 0.3, 1.0]}
JUDGES = {
    "accurate, unbiased": (3.0, 0.0),
    "accurate, biased": (3.0, 1.0),
    "noisy, biased": (1.0, 1.0),
}
SCHEMES: list[tuple[str, str, dict[str, Any]]] = [
    ("round robin, index order, win rate (old default)", "round_robin", {"orders": "index", "win_rate": True}),
    ("round robin, index order + BT", "round_robin", {"orders": "index"}),
    ("round robin, balanced orders + BT", "round_robin", {}),
    ("round robin, both orders + BT", "round_robin", {"orders": "both"}),
    ("sparse k=2 + BT", "sparse", {"k": 2}),
    ("sparse k=4 + BT", "sparse", {"k": 4}),
    ("sparse k=6 + BT", "sparse", {"k": 6}),
    ("anchors, 2 references", "anchor", {"references": 2}),
    ("anchors, 4 references", "anchor", {"references": 4}),
]


class ScriptedJudge:
    """``run`` answers from the hidden qualities; videos are ``"q=<value>"`` strings."""

    def __init__(self, beta: float, h: float, seed: int, constant: bool = False) -> None:
        self.beta, self.h, self.constant = beta, h, constant
        self.rng = np.random.default_rng(seed)
        self.config = JudgeConfig()
        self.calls = 0

    def run(self, comparisons: list[Comparison], *, both_orders: bool | None = None) -> JudgeRun:
        verdicts = []
        for c in comparisons:
            qa, qb = float(str(c.video_a)[2:]), float(str(c.video_b)[2:])
            p = 1.0 if self.constant else 1.0 / (1.0 + math.exp(-(self.beta * (qa - qb) + self.h)))
            winner = 1 if self.rng.random() < p else 2
            verdicts.append(Verdict(status="ok", winners=dict.fromkeys(KEYS, winner), turns=1))
        self.calls += len(comparisons)
        return JudgeRun(verdicts=verdicts, episodes=len(comparisons), generate_calls=1)


def kendall_tau_b(x: np.ndarray, y: np.ndarray) -> float:
    """Kendall's tau-b (ties in either ranking handled); 0 when one ranking is constant."""
    dx = np.sign(x[:, None] - x[None, :])
    dy = np.sign(y[:, None] - y[None, :])
    upper = np.triu_indices(len(x), 1)
    dx, dy = dx[upper], dy[upper]
    denominator = math.sqrt(float(np.sum(dx != 0)) * float(np.sum(dy != 0)))
    return float(np.sum(dx * dy)) / denominator if denominator else 0.0


def win_rates(n: int, result: Any) -> list[float]:
    """The former round-robin score: each video's share of wins over its comparisons (first-index order)."""
    credit: list[list[float]] = [[] for _ in range(n)]
    for (i, j), verdict in zip(result.pairs, result.verdicts, strict=True):
        first = {1: 1.0, 0: 0.5, 2: 0.0}[int(verdict.overall or 0)]
        credit[i].append(first)
        credit[j].append(1.0 - first)
    return [sum(c) / len(c) for c in credit]


def judge_accuracy(beta: float, h: float, rng: np.random.Generator, n: int = 200_000) -> tuple[float, float]:
    """(share of random pairs the judge orders correctly, share it gives the first position)."""
    qa, qb = rng.normal(size=n), rng.normal(size=n)
    p = 1.0 / (1.0 + np.exp(-(beta * (qa - qb) + h)))
    first = rng.random(n) < p
    return float(np.mean(first == (qa > qb))), float(np.mean(first))


def run_scheme(
    mode: str, options: dict[str, Any], g: int, groups: int, beta: float, h: float, seed: int, constant: bool = False
) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    judge = ScriptedJudge(beta, h, seed + 1, constant)
    options = dict(options)
    references = options.pop("references", 0)
    win_rate = options.pop("win_rate", False)
    qualities = [rng.uniform(-LEVEL, LEVEL) + rng.normal(size=g) for _ in range(groups)]
    batch = [("p", [f"q={q:.6f}" for q in qs]) for qs in qualities]
    anchors = [[f"q={r:.6f}" for r in REFERENCES[references]]] * groups if mode == "anchor" else None
    began = time.perf_counter()
    results = score_groups(judge, batch, mode=mode, anchors=anchors, **options)  # type: ignore[arg-type]
    seconds = time.perf_counter() - began
    taus, spreads, pooled_s, pooled_q = [], [], [], []
    for qs, result in zip(qualities, results, strict=True):
        scores = np.array(win_rates(g, result) if win_rate else result.scores, dtype=float)
        taus.append(kendall_tau_b(scores, qs))
        spreads.append(float(scores.max() - scores.min()))
        pooled_s.extend(scores)
        pooled_q.extend(qs)
    calls = judge.calls / groups
    tau = float(np.mean(taus))
    return {
        "tau": tau,
        "tau_se": float(np.std(taus) / math.sqrt(groups)),
        "calls": calls,
        "tau_per_call": tau / calls,
        "spread": float(np.mean(spreads)),
        "pooled_r": float(np.corrcoef(pooled_s, pooled_q)[0, 1]) if np.std(pooled_s) > 0 else 0.0,
        "fit_seconds_per_group": seconds / groups,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=300, help="groups per (scheme, G, judge)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"))
    args = parser.parse_args()
    began = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    judges = {name: (beta, h, *judge_accuracy(beta, h, rng)) for name, (beta, h) in JUDGES.items()}
    rows: list[dict[str, Any]] = []
    for g in (8, 16):
        for name, mode, options in SCHEMES:
            if mode == "sparse" and options["k"] + 1 >= g:
                continue
            constant = run_scheme(mode, options, g, 20, 0.0, 0.0, args.seed, constant=True)
            for judge_name, (beta, h, _, _) in judges.items():
                seed = args.seed + 1000 * g  # same qualities and judge draws for every scheme
                result = run_scheme(mode, options, g, args.groups, beta, h, seed)
                rows.append(
                    {"G": g, "scheme": name, "judge": judge_name, **result, "constant_spread": constant["spread"]}
                )
    record = {
        "command": f"python benchmarks/group_schemes.py --groups {args.groups} --seed {args.seed}",
        "machine": f"{platform.python_version()}, numpy {np.__version__}",
        "judges": {k: {"beta": v[0], "h": v[1], "accuracy": v[2], "first_share": v[3]} for k, v in judges.items()},
        "references": REFERENCES,
        "rows": rows,
        "seconds": time.perf_counter() - began,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "group_schemes.json").write_text(json.dumps(record, indent=2) + "\n")
    lines = [
        "# Group-scoring schemes: ranking accuracy per judge call",
        "",
        f"Generated by `{record['command']}` ({record['machine']}; {record['seconds']:.0f} s). A scripted judge",
        "(`benchmarks/group_schemes.py`) answers through the real `agents.judge.groups.score_groups` code path;",
        f"qualities q = U(-{LEVEL}, {LEVEL}) per group + N(0, 1) per video; {args.groups} groups per cell. Judges (accuracy on random pairs, share of first-position wins):",
        "",
    ]
    for k, v in record["judges"].items():
        lines.append(
            f"- {k}: beta {v['beta']}, h {v['h']}: accuracy {v['accuracy']:.3f}, first position {v['first_share']:.3f}"
        )
    lines += [
        "",
        "tau: mean Kendall tau-b of scores vs true quality (± standard error); calls: judge calls per group;",
        "tau/call x100; const spread: max - min score a constant (always-first) judge leaves (0 = no position",
        "reward); pooled r: Pearson r of scores vs absolute quality over all groups (comparability across groups",
        "and steps: a round-robin score is relative to its group, an anchor score is not).",
        "",
    ]
    for g in (8, 16):
        lines += [
            f"## G = {g}",
            "",
            "| scheme | calls | const spread | "
            + " | ".join(f"tau ({j}) | tau/call x100 | pooled r" for j in judges)
            + " |",
            "|---|---|---|" + "---|---|---|" * len(judges),
        ]
        for name, _, _ in SCHEMES:
            cells = [r for r in rows if r["G"] == g and r["scheme"] == name]
            if not cells:
                continue
            parts = [name, f"{cells[0]['calls']:.0f}", f"{cells[0]['constant_spread']:.3f}"]
            for j in judges:
                r = next(c for c in cells if c["judge"] == j)
                parts += [
                    f"{r['tau']:.3f} ± {r['tau_se']:.3f}",
                    f"{100 * r['tau_per_call']:.2f}",
                    f"{r['pooled_r']:.3f}",
                ]
            lines.append("| " + " | ".join(parts) + " |")
        lines.append("")
    (out / "group_schemes.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
