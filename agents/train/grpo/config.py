"""Configuration of the windowed multi-turn GRPO trainer: TRL's ``GRPOConfig`` with the paper's defaults.

Stage III of the recipe (spec sections 3 and 4): DAPO token-mean loss, asymmetric clipping 0.2 / 0.35,
KL beta 0.01 (k3), G = 8 trajectories per pair, rollouts at temperature 1.0, top-p 0.95, top-k 40,
up to 2048 new tokens per turn, learning rate 1e-6; plus :class:`WindowedSettings` (the environment,
DAPO dynamic sampling with a cap on refill rounds, rollout options). vLLM generation: server mode only,
with ``old_logps="forward"`` (``agents.train.grpo.vllm_server_mode``).

Precision: ``bf16`` left unset is on for a GPU run (TRL's default) and off on a CPU (``use_cpu`` or
no CUDA), where bf16 is slow and rounds the weights; ``run_grpo`` loads the policy in float32 (TRL's
rule for a checkpoint path) unless ``model_init_kwargs={"dtype": ...}`` says otherwise, so ``bf16``
is mixed precision over float32 weights.

Refused when the config is built: ``old_logps="sampling"`` in bf16 / fp16 (``"auto"``, the default,
picks ``"forward"`` there; ``"sampling"`` forces ``disable_dropout``), FSDP, ``save_steps`` inside a
generation cycle (``launch_checks``), an ``initial_frames_input="video"`` environment. With
``importance_sampling_level="sequence"`` TRL's sequence is one row, i.e. one assistant turn (GSPO per
turn, not per episode).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from trl import GRPOConfig

from agents.train.grpo.launch_checks import checkpoint_cycle_problem, fsdp_problem
from agents.train.grpo.settings import PAPER_TRL_DEFAULTS, SPLIT_INVARIANT_LOSSES, WindowedSettings
from agents.train.grpo.vllm_server_mode import vllm_settings_problems

logger = logging.getLogger(__name__)


def _cuda_training(config: Any) -> bool:
    """Whether the run trains on a GPU (not ``use_cpu`` and CUDA available)."""
    import torch

    return not config.use_cpu and torch.cuda.is_available()


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
        if self.bf16 is None and not self.fp16 and not _cuda_training(self):
            self.bf16 = False  # TRL turns bf16 on when unset; a CPU run stays in float32 (exact sampling log-probs)
        problems = self.settings_problems()
        problems.extend(self._precision_problems())
        if self.loss_type not in SPLIT_INVARIANT_LOSSES:
            problems.append(
                f"loss_type={self.loss_type!r} weights a token by its row's length, and this trainer splits a "
                f"trajectory into one row per turn; use one of {SPLIT_INVARIANT_LOSSES}"
            )
        problems.extend(vllm_settings_problems(self))
        fsdp = fsdp_problem(self)
        if fsdp:
            problems.append(fsdp)
        if self.log_completions:
            problems.append("log_completions cannot log tool images (TRL's table); read the trainer's metrics instead")
        if self.max_completion_length is None or self.max_completion_length < 1:
            problems.append(f"max_completion_length (tokens per turn) must be >= 1, got {self.max_completion_length}")
        if problems:
            raise ValueError("invalid WindowedGRPOConfig: " + "; ".join(problems))
        super().__post_init__()
        cycle = checkpoint_cycle_problem(self)  # needs TRL's resolved steps_per_generation
        if cycle:
            raise ValueError("invalid WindowedGRPOConfig: " + cycle)

    @property
    def half_precision(self) -> bool:
        """bf16 or fp16 mixed precision (on a GPU, TRL turns bf16 on when it is left unset and fp16 is off)."""
        return bool(self.fp16) or self.bf16 is None or bool(self.bf16)

    def _precision_problems(self) -> list[str]:
        """Resolve ``old_logps="auto"``, refuse sampling log-probs in half precision, force ``disable_dropout``."""
        precision = "fp16" if self.fp16 else "bf16"
        if self.old_logps == "auto":
            self.old_logps = "forward" if self.half_precision or self.use_vllm else "sampling"
            reason = f"{precision} mixed precision" if self.half_precision else "use_vllm" if self.use_vllm else None
            logger.info("old_logps='auto' -> %r%s", self.old_logps, f" ({reason})" if reason else "")
        if self.old_logps == "sampling" and self.half_precision:
            return [
                f"old_logps='sampling' with {precision}: the rollout's cached decoding and the loss's full forward "
                "differ in half precision, so on-policy tokens would be clipped by that difference; use "
                "old_logps='forward' (or 'auto'), or train in float32 (bf16=False)"
            ]
        if self.old_logps == "sampling" and not self.disable_dropout:
            self.disable_dropout = True  # the sampling log-probs are dropout-free: the loss's must be too
            logger.info("disable_dropout forced on: old_logps='sampling' compares against dropout-free rollouts")
        return []
