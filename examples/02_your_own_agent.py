"""Plug in your own agent: any callable from observation to text.

This one never calls the tool: it compares the two videos' initial frames by how much they change
from frame to frame and by high-frequency noise, then answers. Run it against the labels of the
synthetic benchmark and see where looking at only 8 frames falls short.

    python examples/02_your_own_agent.py [--pairs 50] [--quick]

``--quick`` (or ``VR_ENV_QUICK=1``) judges 8 pairs.
"""

from __future__ import annotations

import argparse
import os

import gymnasium as gym
import numpy as np


def noise(frames: np.ndarray) -> float:
    """Mean absolute difference between neighbouring pixels: grows with noise and blocking."""
    f = frames.astype(np.float32)
    return float(np.abs(np.diff(f, axis=2)).mean())


def my_judge(obs: dict) -> str:
    visible = obs["frames"][obs["frame_mask"] == 1]
    video_1, video_2 = visible[:4], visible[4:8]
    vq = 0 if abs(noise(video_1) - noise(video_2)) < 0.5 else (1 if noise(video_1) < noise(video_2) else 2)
    return f"<Snapshot>noise {noise(video_1):.1f} vs {noise(video_2):.1f}</Snapshot><Think>compare</Think><Answer>TA=0, VQ={vq}, MQ=0, OA={vq}</Answer>"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=50)
    parser.add_argument("--quick", action="store_true", default=os.environ.get("VR_ENV_QUICK") == "1")
    args = parser.parse_args()
    if args.quick:
        args.pairs = min(args.pairs, 8)
    env = gym.make("vr_env:VRJudge-v0")
    hits = {"OA": 0, "VQ": 0}
    for i in range(args.pairs):
        obs, info = env.reset(seed=i, options={"pair_index": i})
        obs, reward, terminated, truncated, info = env.step(my_judge(obs))
        for key in hits:
            hits[key] += info["final_answer"][key] == info["labels"][key]
    print({key: f"{value / args.pairs:.2f}" for key, value in hits.items()}, "accuracy over", args.pairs, "pairs")


if __name__ == "__main__":
    main()
