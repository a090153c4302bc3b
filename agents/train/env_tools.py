"""The environment as a stock-TRL ``environment_factory`` (plain ``GRPOTrainer``, TRL's own tool loop).

For users who want TRL's built-in multi-turn loop rather than :class:`WindowedGRPOTrainer`:

```python
from trl import GRPOConfig, GRPOTrainer
from agents.train.env_tools import tool_env_factory, tool_prompt_dataset

trainer = GRPOTrainer(model, args=GRPOConfig(...), train_dataset=tool_prompt_dataset(64),
                      environment_factory=tool_env_factory(frames_per_video=48))
```

Each rollout gets one :class:`VRJudgeToolEnv`: ``reset(**row)`` starts an episode on
``row["pair_index"]`` and returns the initial frames as image blocks; the tools are
``select_frames(target_frames)`` (returns the frames as images) and ``final_answer(TA, VQ, MQ, OA)``;
``get_reward()`` is the environment's score. What differs from the windowed trainer: TRL keeps one
append-only conversation, so nothing is evicted (no memory window; every fetched frame stays and
counts against ``max_completion_length``), the protocol's Snapshot/Think tags and provisional
answers are not part of TRL's tool format (so the format and CoT-gain terms are not scored here:
the reward is accuracy minus invalid-call penalties), and the group exploration term is a separate
reward function (:func:`exploration_reward`).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

from vr_env.rewards import exploration_bonus

#: Instruction of the stock-TRL prompt rows (the environment adds the pair's text and frames).
TOOL_INSTRUCTION = (
    "Compare the two videos described below on text alignment (TA), visual quality (VQ), motion quality (MQ) "
    "and overall (OA). Call select_frames to look at more frames, then call final_answer with 1 (video 1 "
    "better), 2 (video 2 better) or 0 (tie) for each."
)


def _image_blocks(frames: Any) -> list[dict[str, Any]]:
    from PIL import Image

    blocks: list[dict[str, Any]] = []
    for frame in frames:
        blocks.append({"type": "text", "text": frame.label})
        blocks.append({"type": "image", "image": Image.fromarray(frame.image)})
    return blocks


class VRJudgeToolEnv:
    """One ``VRJudge-v0`` episode driven by tool calls (TRL's ``environment_factory`` protocol)."""

    def __init__(self, **env_kwargs: Any) -> None:
        import gymnasium as gym

        self.env = gym.make("vr_env:VRJudge-v0", **env_kwargs)
        self.info: dict[str, Any] = {}
        self.done = False
        self.used_tool = False
        self.components: dict[str, float] = {}
        self.penalties = 0.0

    def reset(self, **row: Any) -> list[dict[str, Any]]:
        """Start an episode on ``row["pair_index"]``; returns the pair's text and initial frames."""
        if "pair_index" not in row:
            raise ValueError("a stock-TRL row needs a 'pair_index' column (see tool_prompt_dataset)")
        _, self.info = self.env.reset(options={"pair_index": int(row["pair_index"])})
        self.done, self.used_tool, self.components, self.penalties = False, False, {}, 0.0
        context = self.info["context"]
        first = context.turns[1]
        return [{"type": "text", "text": first.text}, *_image_blocks(first.frames)]

    def _step(self, action: str) -> tuple[float, dict[str, Any]]:
        if self.done:
            raise ValueError("the episode has ended: final_answer was already given")
        _, reward, terminated, truncated, self.info = self.env.step(action)
        if self.info.get("invalid_reason") is not None:
            self.penalties += float(self.env.unwrapped.config.reward.invalid_turn_penalty)  # type: ignore[attr-defined]
        if terminated or truncated:
            self.done = True
            self.components = dict(self.info.get("reward_components") or {})
        return float(reward), self.info

    def select_frames(self, target_frames: list[int]) -> list[dict[str, Any]]:
        """Fetch frames of the two videos by their numbers to look at them closely.

        Args:
            target_frames: Frame numbers to retrieve (one numbering over both videos; at most 8).

        Returns:
            The selected frames as images, or the reason the call could not be carried out.
        """
        call = json.dumps({"name": "select_frames", "arguments": {"target_frames": list(target_frames)}})
        _, info = self._step(f"<tool_call>{call}</tool_call>")
        turn = info["context"].turns[-1]
        if info.get("invalid_reason") is not None or not turn.frames:
            return [{"type": "text", "text": str(info.get("invalid_reason") or turn.text)}]
        self.used_tool = True
        return [{"type": "text", "text": turn.text}, *_image_blocks(turn.frames)]

    def final_answer(self, TA: int, VQ: int, MQ: int, OA: int) -> str:
        """Give the final judgment and end the episode.

        Args:
            TA: Text alignment: 1 if video 1 is better, 2 if video 2 is better, 0 for a tie.
            VQ: Visual quality, same values.
            MQ: Motion quality, same values.
            OA: Overall preference, same values.

        Returns:
            A confirmation.
        """
        values = {"TA": TA, "VQ": VQ, "MQ": MQ, "OA": OA}
        self._step("<Answer>" + ", ".join(f"{k}={int(v)}" for k, v in values.items()) + "</Answer>")
        return "Answer recorded." if self.done else str(self.info.get("invalid_reason"))

    def get_reward(self) -> float:
        """Accuracy of the final answer (0 without one) minus invalid-call penalties."""
        weights = self.env.unwrapped.config.reward  # type: ignore[attr-defined]
        return float(weights.accuracy) * float(self.components.get("accuracy", 0.0)) - self.penalties


def tool_env_factory(**env_kwargs: Any) -> Callable[[], VRJudgeToolEnv]:
    """``environment_factory`` for ``GRPOTrainer``: a new :class:`VRJudgeToolEnv` per rollout."""
    return functools.partial(VRJudgeToolEnv, **env_kwargs)


def exploration_reward(
    environments: list[VRJudgeToolEnv], num_generations: int = 8, omega: float = 0.2, eta: float = 0.5, **_: Any
) -> list[float]:
    """The group exploration term as a TRL reward function (rollouts come in groups of ``num_generations``).

    Bind the group size: ``functools.partial(exploration_reward, num_generations=G)``. The rollouts of
    one process hold whole groups when ``per_device_train_batch_size`` is a multiple of G.
    """
    used = [env.used_tool for env in environments]
    out: list[float] = []
    for start in range(0, len(used), num_generations):
        out.extend(float(x) for x in exploration_bonus(used[start : start + num_generations], omega, eta))
    return out


def tool_prompt_dataset(num_pairs: int, instruction: str = TOOL_INSTRUCTION) -> Any:
    """A ``datasets.Dataset`` of conversational prompts with a ``pair_index`` column (pairs 0..n-1)."""
    from datasets import Dataset

    return Dataset.from_dict(
        {
            "prompt": [[{"role": "user", "content": instruction}] for _ in range(num_pairs)],
            "pair_index": list(range(num_pairs)),
        }
    )
