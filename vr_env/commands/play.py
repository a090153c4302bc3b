"""``vr-env play``: judge one pair yourself in the terminal (see ``agents/human.py`` for the input)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vr_env.commands.evaluate import add_dataset_arguments, env_kwargs_from

HELP = "Judge a video pair yourself: frame sheets as PNG, type frames to fetch or your answer."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_dataset_arguments(parser)
    parser.add_argument("--pair-index", type=int, default=None, help="pair to judge (default: drawn with --seed)")
    parser.add_argument("--swap", action="store_true", help="exchange video 1 and video 2")
    parser.add_argument("--seed", type=int, default=0, help="seed drawing the pair when --pair-index is not given")
    parser.add_argument("--out", type=Path, default=Path("vr-env-play"), help="folder for frame sheets (vr-env-play)")


def run(args: argparse.Namespace) -> int:
    from agents.human import HumanAgent, QuitPlay
    from vr_env.data.base import DatasetError
    from vr_env.env import VRJudgeEnv
    from vr_env.render import save_episode_sheet
    from vr_env.video import VideoError

    try:
        env = VRJudgeEnv(**env_kwargs_from(args))
        options: dict[str, object] = {"swap": bool(args.swap)}
        if args.pair_index is not None:
            options["pair_index"] = args.pair_index
        obs, info = env.reset(seed=args.seed, options=options)
    except (DatasetError, VideoError, ValueError, TypeError) as exc:
        print(f"play: error: {exc}", file=sys.stderr)
        return 2
    agent = HumanAgent(out_dir=args.out)
    agent.reset()
    print(f"Pair {info['pair_index']} ({info['pair_id']}){' swapped' if info['swapped'] else ''}")
    total = 0.0
    try:
        while True:
            obs, reward, terminated, truncated, info = env.step(agent.act(obs, info))
            total += float(reward)
            if info.get("invalid_reason"):
                print(f"! the environment rejected that turn: {info['invalid_reason']} (penalty {reward:+.2f})")
            if terminated or truncated:
                break
    except QuitPlay:
        print("stopped; no answer scored")
        return 1
    except VideoError as exc:
        print(f"play: error: {exc}", file=sys.stderr)
        return 2
    sheet = save_episode_sheet(env.context, Path(args.out) / "episode.png")
    components = info["reward_components"]
    print(obs["text"])
    print("labels:       " + ", ".join(f"{k}={v}" for k, v in info["labels"].items()))
    answer = info.get("final_answer") or {}
    print("your answer:  " + (", ".join(f"{k}={v}" for k, v in answer.items()) or "none"))
    print(
        f"reward {total:.3f} (format {components['format']:.0f}, accuracy {components['accuracy']:.3f}, "
        f"cot gain {components['cot_gain']:.3f}); tool calls {info['tool_calls']}, frames fetched {info['frames_fetched']}"
    )
    print(f"episode sheet: {sheet}")
    return 0
