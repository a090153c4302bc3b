"""``vr-env demo``: the built-in agents on the embedded synthetic benchmark, a results table and
a picture of one episode. Needs no torch."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from vr_env.commands.argtypes import positive_int

HELP = "Run the built-in agents on the synthetic benchmark; print results and save an episode picture."
AGENTS = ("random", "answer-now", "scanner")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pairs", type=positive_int, default=100, help="synthetic pairs per agent (default 100)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic benchmark and the agents")
    parser.add_argument("--out", type=Path, default=Path("runs/demo"), help="output folder (default runs/demo)")
    parser.add_argument(
        "--agents", nargs="+", default=list(AGENTS), help=f"agents to run (default: {' '.join(AGENTS)})"
    )


def run_episode_picture(agent_name: str, seed: int, pairs: int, path: Path) -> dict[str, Any]:
    """Play one episode with ``agent_name`` and save what the judge saw as a contact sheet."""
    from vr_env.agent_registry import make_agent
    from vr_env.env import VRJudgeEnv
    from vr_env.render import save_episode_sheet

    env = VRJudgeEnv(dataset_kwargs={"n": pairs, "seed": seed})
    agent = make_agent(agent_name, seed=seed)
    agent.reset()
    obs, info = env.reset(seed=seed, options={"pair_index": 0})
    terminated = truncated = False
    while not (terminated or truncated):
        obs, _, terminated, truncated, info = env.step(agent.act(obs, info))
    save_episode_sheet(env.context, path)
    return {"pair_id": info["pair_id"], "labels": info["labels"], "answer": info["final_answer"]}


def format_table(results: dict[str, dict[str, Any]]) -> str:
    header = "| agent | tau | diff | TA | VQ | MQ | tool calls | frames fetched | invalid turns |"
    lines = [header, "|" + "---|" * 9]
    for name, m in results.items():
        dims = m["per_dimension"]

        def pct(x: Any) -> str:
            return "-" if x is None else f"{100 * x:.1f}"

        lines.append(
            f"| {name} | {pct(m['tau'])} | {pct(m['diff'])} | {pct(dims['TA'])} | {pct(dims['VQ'])} | "
            f"{pct(dims['MQ'])} | {m['tool_calls_mean']:.2f} | {m['frames_fetched_mean']:.1f} | "
            f"{pct(m['invalid_turn_rate'])} |"
        )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from vr_env.eval import evaluate

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    env_kwargs = {"dataset_kwargs": {"n": args.pairs, "seed": args.seed}}
    results: dict[str, dict[str, Any]] = {}
    for name in args.agents:
        results[name] = evaluate(
            name, env_kwargs, limit=args.pairs, out_dir=out / name, seed=args.seed, overwrite=True, progress=True
        )
    table = format_table(results)
    episode = run_episode_picture(args.agents[-1], args.seed, args.pairs, out / "episode.png")
    summary = (
        f"# vr-env demo: {args.pairs} synthetic pairs (seed {args.seed})\n\n"
        "Accuracy in % (tau: overall preference with ties as a class; diff: pairs whose overall label is not a tie).\n\n"
        f"{table}\n\nEpisode picture ({args.agents[-1]}, pair {episode['pair_id']}): episode.png\n"
    )
    (out / "summary.md").write_text(summary, encoding="utf-8")
    (out / "summary.json").write_text(json.dumps({"metrics": results, "episode": episode}, indent=2, default=str))
    print("\n" + table)
    print(f"\nlabels {episode['labels']} vs answer {episode['answer']}")
    print(f"episode picture: {out / 'episode.png'}\nper-agent results, reports and plots: {out}/<agent>/")
    return 0
