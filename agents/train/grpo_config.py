"""Configuration of the windowed multi-turn GRPO trainer: TRL's ``GRPOConfig`` with the paper's defaults.

Stage III of the recipe (spec sections 3 and 4): DAPO token-mean loss, asymmetric clipping 0.2 / 0.35,
KL beta 0.01 (k3), G = 8 trajectories per pair, rollouts at temperature 1.0, top-p 0.95, top-k 40,
up to 2048 new tokens per turn, learning rate 1e-6, plus the fields TRL does not have: the
environment the rollouts play and DAPO dynamic sampling with a cap on refill rounds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import Any

from trl import GRPOConfig

#: Loss types whose normalizer is the token count of the whole generation batch: splitting a
#: trajectory into one row per turn, or the batch into ``steps_per_generation`` chunks, leaves every
#: token's weight unchanged. ``grpo`` / ``bnpo`` / ``dr_grpo`` / ``luspo`` are not split-invariant.
SPLIT_INVARIANT_LOSSES: tuple[str, ...] = ("dapo", "cispo")

#: The fields this project adds to TRL's config (shown by ``vr-env train grpo --help``).
OWN_FIELDS: tuple[str, ...] = (
    "dataset",
    "data_root",
    "env_kwargs",
    "reward",
    "dynamic_sampling",
    "max_refill_rounds",
    "swap_videos",
    "rollout_max_batch_size",
    "shared_prefix",
    "old_logps",
    "demo_script_share",
)
#: TRL fields exposed as command-line flags (the rest keep their defaults or come from ``--config``).
TRL_FLAGS: tuple[str, ...] = (
    "learning_rate",
    "max_steps",
    "num_generations",
    "per_device_train_batch_size",
    "steps_per_generation",
    "num_iterations",
    "beta",
    "epsilon",
    "epsilon_high",
    "loss_type",
    "temperature",
    "top_p",
    "top_k",
    "max_completion_length",
    "mask_truncated_completions",
    "scale_rewards",
    "seed",
    "logging_steps",
    "save_steps",
    "save_total_limit",
    "gradient_accumulation_steps",
)


@dataclass
class WindowedGRPOConfig(GRPOConfig):
    """``GRPOConfig`` with the paper's stage-III defaults and the environment / dynamic-sampling fields."""

    # --- the environment the rollouts play ---------------------------------------------------------
    dataset: str = field(default="synthetic", metadata={"help": "pair dataset the environment loads (name or path)"})
    data_root: str | None = field(default=None, metadata={"help": "folder of the dataset's files, if it needs one"})
    env_kwargs: dict[str, Any] | str = field(
        default_factory=dict,
        metadata={"help": "extra VRJudge-v0 settings as JSON, e.g. '{\"frames_per_video\": 16, \"memory_window\": 1}'"},
    )
    reward: str = field(default="paper", metadata={"help": "reward preset of the environment: paper or binary"})
    swap_videos: bool = field(
        default=False,
        metadata={"help": "show every other pair (by a seeded draw) with its videos swapped, labels mirrored"},
    )
    # --- DAPO dynamic sampling ---------------------------------------------------------------------
    dynamic_sampling: bool = field(
        default=True,
        metadata={"help": "drop groups whose G accuracies are all equal and refill them with new pairs (DAPO)"},
    )
    max_refill_rounds: int = field(
        default=2, metadata={"help": "cap on refill rounds per generation; still-degenerate groups get zero weight"}
    )
    # --- rollout speed ---------------------------------------------------------------------------
    rollout_max_batch_size: int | None = field(
        default=None, metadata={"help": "cap on episodes per generation call (None: all active episodes)"}
    )
    shared_prefix: bool = field(
        default=True,
        metadata={"help": "prefill the first turn's prompt once per group and share its cache (transformers backend)"},
    )
    old_logps: str = field(
        default="sampling",
        metadata={
            "help": "old policy log-probs of the clipped ratio: 'sampling' (the rollout's own, exact in float32) or "
            "'forward' (one extra forward pass, for bf16 where cached decoding and a full forward differ)"
        },
    )
    # --- CPU demo only -----------------------------------------------------------------------------
    demo_script_share: float = field(
        default=0.0,
        metadata={
            "help": "CPU demo only: share of episodes played by a scripted protocol policy with random answers "
            "(forced ids, real log-probs); a random tiny model never writes a valid turn, so without it every "
            "group is degenerate"
        },
    )

    # --- TRL fields with the paper's defaults ------------------------------------------------------
    learning_rate: float = field(default=1e-6, metadata={"help": "AdamW learning rate (paper: 1e-6)"})
    num_generations: int | None = field(default=8, metadata={"help": "G: trajectories per pair (paper: 8)"})
    per_device_train_batch_size: int = field(
        default=8, metadata={"help": "trajectories per device per optimization step (a multiple of G is simplest)"}
    )
    beta: float = field(default=0.01, metadata={"help": "KL coefficient, k3 estimator (paper: 0.01)"})
    epsilon: float = field(default=0.2, metadata={"help": "lower clipping epsilon (paper: 0.2)"})
    epsilon_high: float | None = field(default=0.35, metadata={"help": "upper clipping epsilon (paper: 0.35)"})
    loss_type: str = field(
        default="dapo", metadata={"help": "token-mean over the generation batch; must be split-invariant: dapo or cispo"}
    )
    temperature: float = field(default=1.0, metadata={"help": "sampling temperature, also used by the loss"})
    top_p: float = field(default=0.95, metadata={"help": "nucleus sampling (paper: 0.95)"})
    top_k: int = field(default=40, metadata={"help": "top-k sampling (paper: 40; 0 = off)"})
    max_completion_length: int | None = field(
        default=2048, metadata={"help": "new tokens per assistant TURN (paper: 2048)"}
    )
    log_completions: bool = field(default=False, metadata={"help": "kept off: TRL's table cannot hold tool images"})

    def __post_init__(self) -> None:
        if isinstance(self.env_kwargs, str):
            try:
                self.env_kwargs = json.loads(self.env_kwargs) if self.env_kwargs.strip() else {}
            except json.JSONDecodeError as error:
                raise ValueError(f"env_kwargs is not valid JSON ({error}): {self.env_kwargs!r}") from None
        if not isinstance(self.env_kwargs, dict):
            raise ValueError(f"env_kwargs must be a JSON object, got {type(self.env_kwargs).__name__}")
        problems = []
        if self.loss_type not in SPLIT_INVARIANT_LOSSES:
            problems.append(
                f"loss_type={self.loss_type!r} weights a token by its row's length, and this trainer splits a "
                f"trajectory into one row per turn; use one of {SPLIT_INVARIANT_LOSSES}"
            )
        if self.max_refill_rounds < 0:
            problems.append(f"max_refill_rounds must be >= 0, got {self.max_refill_rounds}")
        if not 0.0 <= self.demo_script_share <= 1.0:
            problems.append(f"demo_script_share must lie in [0, 1], got {self.demo_script_share}")
        if self.rollout_max_batch_size is not None and self.rollout_max_batch_size < 1:
            problems.append(f"rollout_max_batch_size must be >= 1, got {self.rollout_max_batch_size}")
        if self.old_logps not in ("sampling", "forward"):
            problems.append(f"old_logps must be 'sampling' or 'forward', got {self.old_logps!r}")
        if self.use_vllm:
            problems.append(
                "use_vllm is not wired into the windowed trainer (its rollouts run through agents.rollout); "
                "see docs/grpo.md, 'vLLM server mode'"
            )
        if self.log_completions:
            problems.append("log_completions cannot log tool images (TRL's table); read the trainer's metrics instead")
        if self.max_completion_length is None or self.max_completion_length < 1:
            problems.append(f"max_completion_length (tokens per turn) must be >= 1, got {self.max_completion_length}")
        if problems:
            raise ValueError("invalid WindowedGRPOConfig: " + "; ".join(problems))
        super().__post_init__()

    def environment_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``gym.make("vr_env:VRJudge-v0", ...)`` for the rollouts."""
        kwargs: dict[str, Any] = {"dataset": self.dataset, "reward": self.reward}
        if self.data_root is not None:
            kwargs["data_root"] = self.data_root
        return {**kwargs, **dict(self.env_kwargs)}  # type: ignore[arg-type]

    def own_settings(self) -> dict[str, Any]:
        """The fields this project adds, for printing and saving beside a run."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name in OWN_FIELDS}
