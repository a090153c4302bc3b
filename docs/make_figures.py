"""Figures of the documentation site, drawn by the env's own render code (``vr_env.render``).

    python docs/make_figures.py [--out docs/img]

``episode_window.png``: one episode on the synthetic benchmark with a memory window of one tool
round: the judge fetches frames twice, so the first round's images are evicted (dimmed and crossed
out) by the time it answers.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from PIL import Image

from vr_env.env import VRJudgeEnv
from vr_env.protocol.writers import final_turn, tool_turn
from vr_env.render import episode_sheet

#: A small episode: 16 candidate frames per video, 2 initial frames per video, 2 calls of 4 frames,
#: a memory window of one tool round.
FIGURE_ENV: dict[str, Any] = {
    "frames_per_video": 16,
    "initial_frames": 4,
    "max_frames_per_call": 4,
    "max_tool_calls": 2,
    "memory_window": 1,
    "dataset_kwargs": {"n": 4},
}


def episode_window_figure(path: Path) -> Path:
    """Play pair 0 with two fetches and an answer; save the episode sheet (half size) to ``path``."""
    env = VRJudgeEnv(**FIGURE_ENV)
    env.reset(seed=0, options={"pair_index": 0})
    answer = {"TA": 0, "VQ": 1, "MQ": 0, "OA": 1}
    env.step(tool_turn("Initial frames 5, 13, 21, 29.", "Look at the start.", answer, 3, [1, 3, 17, 19]))
    env.step(tool_turn("Frames 1, 3, 17, 19.", "Now the middle.", answer, 2, [7, 9, 23, 25]))
    *_, info = env.step(final_turn("Frames 7, 9, 23, 25.", "Video 2 is noisier.", answer))
    assert any(turn.evicted for turn in info["context"].turns), "the first tool round should be evicted"
    image = Image.fromarray(episode_sheet(info["context"], tile=(72, 72), width_chars=100))
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, optimize=True)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "img")
    args = parser.parse_args()
    print(episode_window_figure(args.out / "episode_window.png"))


if __name__ == "__main__":
    main()
