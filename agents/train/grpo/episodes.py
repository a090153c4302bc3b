"""Episode-side helpers of the windowed GRPO trainer: the placeholder reward, the swap wrapper, the
CPU-demo script and the end-of-round drain of synced generation."""

from __future__ import annotations

from typing import Any

import numpy as np

from agents.rollout import Script
from vr_env.protocol.labels import LABEL_KEYS
from vr_env.protocol.writers import final_turn, tool_turn


def environment_reward(**kwargs: Any) -> list[float | None]:
    """Placeholder reward function: the windowed trainer scores trajectories with the environment."""
    raise NotImplementedError("WindowedGRPOTrainer takes its rewards from the environment, not reward functions")


def drain(backend: Any) -> None:
    """Synced generation: answer the other ranks' generation calls until every rank is done."""
    method = getattr(backend, "drain", None)
    if method is not None:
        method()


class PairSwap:
    """Gymnasium wrapper setting each reset's ``swap`` from a shared ``pair_index -> bool`` table."""

    def __init__(self, env: Any, swaps: dict[int, bool]) -> None:
        self.env, self.swaps = env, swaps

    def __getattr__(self, name: str) -> Any:
        return getattr(self.env, name)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> Any:
        options = dict(options or {})
        if "pair_index" in options and self.swaps:
            options["swap"] = self.swaps.get(int(options["pair_index"]), False)
        return self.env.reset(seed=seed, options=options)


def demo_script(share: float, seed: int, frames: int, max_calls: int) -> Script:
    """CPU-demo policy: a seeded ``share`` of episodes write protocol turns with random answers and
    0..``max_calls`` tool calls (forced ids; the model's log-probs of them are real)."""

    def play(episode: int, turn: int, info: dict[str, Any]) -> str | None:
        rng = np.random.default_rng([seed, episode, 0xDE])
        if rng.random() >= share:
            return None
        calls = int(rng.integers(0, max_calls + 1))
        values = rng.integers(0, 3, size=(calls + 1, 4))
        if turn < calls:
            picks = sorted(int(i) for i in rng.choice(np.arange(1, frames + 1), size=4, replace=False))
            answer = dict(zip(LABEL_KEYS, values[turn].tolist(), strict=True))
            return tool_turn("frames", "look closer", answer, 2, picks)
        answer = dict(zip(LABEL_KEYS, values[-1].tolist(), strict=True))
        return final_turn("frames", "done", answer)

    return play
