"""Your first episode: look at what the judge sees, fetch frames with the tool, answer.

    python examples/01_first_episode.py [--out runs/first_episode.png] [--quick]

One episode is already small; ``--quick`` (or ``VR_ENV_QUICK=1``, what the test suite uses) is
accepted so every example has the same switch.
"""

from __future__ import annotations

import argparse
import json
import os

import gymnasium as gym

from vr_env.render import save_episode_sheet


def turn(answer: str, frames: list[int] | None = None) -> str:
    """Write one protocol turn: a provisional answer plus a tool call, or a final answer."""
    head = "<Snapshot>what I saw</Snapshot><Think>why I think so</Think>"
    if frames is None:
        return f"{head}<Answer>{answer}</Answer>"
    call = json.dumps({"name": "select_frames", "arguments": {"target_frames": frames}})
    return f"{head}<Recommend Answer>{answer}</Recommend Answer><tool_call>{call}</tool_call>"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/first_episode.png")
    parser.add_argument("--quick", action="store_true", default=os.environ.get("VR_ENV_QUICK") == "1")
    args = parser.parse_args()

    env = gym.make("vr_env:VRJudge-v0")  # the embedded synthetic benchmark
    obs, info = env.reset(seed=0)
    print(obs["text"][-400:])
    print("visible frames:", obs["frame_ids"][obs["frame_mask"] == 1].tolist())

    # Fetch the first frames of both videos at matched times: video 2's frame k is k + 48.
    obs, reward, terminated, truncated, info = env.step(
        turn("TA=1, VQ=1, MQ=1, OA=1, CF=3", [1, 2, 3, 4, 49, 50, 51, 52])
    )
    print("\n" + obs["text"], "| reward", reward)
    obs, reward, terminated, truncated, info = env.step(turn("TA=0, VQ=0, MQ=0, OA=0"))
    print("\nterminated:", terminated, "| labels:", info["labels"], "| answer:", info["final_answer"])
    print("reward components:", {k: round(v, 3) for k, v in info["reward_components"].items()})
    print("episode picture:", save_episode_sheet(env.unwrapped.context, args.out))


if __name__ == "__main__":
    main()
