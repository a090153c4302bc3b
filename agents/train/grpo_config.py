"""Configuration of the windowed multi-turn GRPO trainer: TRL's ``GRPOConfig`` with the paper's defaults.

Stage III of the recipe (spec sections 3 and 4): DAPO token-mean loss, asymmetric clipping 0.2 / 0.35,
KL beta 0.01 (k3), G = 8 trajectories per pair, rollouts at temperature 1.0, top-p 0.95, top-k 40,
up to 2048 new tokens per turn, learning rate 1e-6; plus :class:`WindowedSettings` (the environment,
DAPO dynamic sampling with a cap on refill rounds, rollout options). vLLM generation: server mode only,
with ``old_logps="forward"`` (``agents.train.grpo_vllm``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from trl import GRPOConfig

from agents.train.grpo_settings import PAPER_TRL_DEFAULTS, SPLIT_INVARIANT_LOSSES, WindowedSettings
from agents.train.grpo_vllm import vllm_settings_problems


def _paper(name: str) -> Any:
    default, _, help_text = PAPER_TRL_DEFAULTS[name]
    return field(default=default, metadata={"help": help_text})


@dataclass
class WindowedGRPOConfig(GRPOConfig, WindowedSettings):
    """``GRPOConfig`` with the paper's stage-III defaults and the environment / dynamic-sampling fields."""

    learning_rate: float = _paper("learning_rate")
    num_generations: int | None = _paper("num_generations")
    per_device_train_batch_size: int = _paper("per_device_train_batch_size")
    beta: float = _paper("beta")
    epsilon: float = _paper("epsilon")
    epsilon_high: float | None = _paper("epsilon_high")
    loss_type: str = _paper("loss_type")
    temperature: float = _paper("temperature")
    top_p: float = _paper("top_p")
    top_k: int = _paper("top_k")
    max_completion_length: int | None = _paper("max_completion_length")
    log_completions: bool = _paper("log_completions")

    def __post_init__(self) -> None:
        problems = self.settings_problems()
        if self.loss_type not in SPLIT_INVARIANT_LOSSES:
            problems.append(
                f"loss_type={self.loss_type!r} weights a token by its row's length, and this trainer splits a "
                f"trajectory into one row per turn; use one of {SPLIT_INVARIANT_LOSSES}"
            )
        problems.extend(vllm_settings_problems(self))
        if self.log_completions:
            problems.append("log_completions cannot log tool images (TRL's table); read the trainer's metrics instead")
        if self.max_completion_length is None or self.max_completion_length < 1:
            problems.append(f"max_completion_length (tokens per turn) must be >= 1, got {self.max_completion_length}")
        if problems:
            raise ValueError("invalid WindowedGRPOConfig: " + "; ".join(problems))
        super().__post_init__()
