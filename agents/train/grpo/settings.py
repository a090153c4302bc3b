"""The windowed GRPO trainer's own settings and the paper's values for TRL's, without importing TRL.

:class:`WindowedSettings` holds the fields TRL's ``GRPOConfig`` does not have (the environment,
DAPO dynamic sampling, rollout options, the held-out evaluation); :data:`PAPER_TRL_DEFAULTS` the
paper's stage-III values of TRL fields with their help. ``WindowedGRPOConfig`` (``config``) combines both with
``GRPOConfig``; the command line builds its flags from this module so it stays fast to start.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import Any

#: Loss types whose normalizer is the token count of the whole generation batch: splitting a
#: trajectory into one row per turn, or the batch into ``steps_per_generation`` chunks, leaves every
#: token's weight unchanged. ``grpo`` / ``bnpo`` / ``dr_grpo`` / ``luspo`` are not split-invariant.
SPLIT_INVARIANT_LOSSES: tuple[str, ...] = ("dapo", "cispo")

#: TRL fields: (paper default, type, help). Spec sections 2-4.
PAPER_TRL_DEFAULTS: dict[str, tuple[Any, type, str]] = {
    "learning_rate": (1e-6, float, "AdamW learning rate (paper: 1e-6)"),
    "num_generations": (8, int, "G: trajectories per pair, normalized together (paper: 8)"),
    "per_device_train_batch_size": (8, int, "trajectories per device per optimization step"),
    "beta": (0.01, float, "KL coefficient, k3 estimator (paper: 0.01)"),
    "epsilon": (0.2, float, "lower clipping epsilon (paper: 0.2)"),
    "epsilon_high": (0.35, float, "upper clipping epsilon (paper: 0.35)"),
    "loss_type": ("dapo", str, "token mean over the generation batch; must be split-invariant: dapo or cispo"),
    "temperature": (
        1.0,
        float,
        "sampling temperature of the first turn (of every turn without temperature_after_first)",
    ),
    "top_p": (0.95, float, "nucleus sampling (paper: 0.95)"),
    "top_k": (40, int, "top-k sampling (paper: 40; 0 = off)"),
    "max_completion_length": (2048, int, "new tokens per assistant TURN (paper: 2048)"),
    "log_completions": (False, bool, "kept off: TRL's completions table cannot hold tool images"),
}
#: Further TRL fields offered as command-line flags, with TRL's defaults: (type, help).
TRL_FLAGS: dict[str, tuple[type, str]] = {
    "max_steps": (int, "optimization steps (paper: about 300)"),
    "steps_per_generation": (int, "optimization steps per generation batch (TRL default: gradient accumulation)"),
    "gradient_accumulation_steps": (int, "micro-batches per optimizer step"),
    "num_iterations": (int, "optimization passes over each generation batch (mu)"),
    "mask_truncated_completions": (bool, "zero the loss of trajectories with a turn cut at max_completion_length"),
    "scale_rewards": (str, "group (paper), batch or none: how advantages are scaled"),
    "seed": (int, "seed of sampling, rollouts, dynamic sampling and the optimizer"),
    "logging_steps": (int, "log every N steps"),
    "save_steps": (int, "checkpoint every N steps (resume with --resume)"),
    "save_total_limit": (int, "checkpoints kept"),
    "bf16": (bool, "bfloat16 mixed precision (GPU)"),
    "gradient_checkpointing": (bool, "recompute activations in the backward pass"),
}


@dataclass
class WindowedSettings:
    """Fields the windowed trainer adds to TRL's config (all with defaults)."""

    dataset: str = field(default="synthetic", metadata={"help": "pair dataset the environment loads (name or path)"})
    data_root: str | None = field(default=None, metadata={"help": "folder of the dataset's files, if it needs one"})
    env_kwargs: dict[str, Any] | str = field(
        default_factory=dict,
        metadata={"help": 'extra VRJudge-v0 settings as JSON, e.g. \'{"frames_per_video": 16, "memory_window": 1}\''},
    )
    reward: str = field(default="paper", metadata={"help": "reward preset of the environment: paper or binary"})
    swap_videos: bool = field(
        default=False, metadata={"help": "show pairs (a seeded coin per pair and step) with their videos swapped"}
    )
    dynamic_sampling: bool = field(
        default=True,
        metadata={"help": "drop groups whose G accuracies are all equal and refill them with new pairs (DAPO)"},
    )
    max_refill_rounds: int = field(
        default=2, metadata={"help": "cap on refill rounds per generation; still-degenerate groups get zero weight"}
    )
    shuffle_advantages: bool = field(
        default=False,
        metadata={
            "help": "a control run, not training: permute the advantages among the trajectories trained on at each "
            "step (seeded by seed and step), an update of the same size that carries no reward signal"
        },
    )
    rollout_max_batch_size: int | None = field(
        default=None, metadata={"help": "cap on episodes per generation call (None: all active episodes)"}
    )
    temperature_after_first: float | None = field(
        default=None,
        metadata={
            "help": "sampling temperature of the second and later turns (paper: 0.9, with temperature 1.0 for the "
            "first); the loss scores each row at its own turn's temperature (None: temperature on every turn)"
        },
    )
    share_prefix: bool = field(
        default=True,
        metadata={
            "help": "prefill the identical prompts of a generation call (a group's first turn) once and decode "
            "every episode from the shared KV cache (same results, less prefill)"
        },
    )
    synced_generation: str = field(
        default="auto",
        metadata={
            "help": "keep the ranks' generation calls in lockstep ('on': transformers' synced_gpus plus one "
            "all_reduce per call and dummy calls on ranks with fewer turns), 'off', or 'auto': on only under "
            "ZeRO-3 with ds3_gather_for_generation=False (a forward pass is then a collective; gathered "
            "parameters make each rank's generation local)"
        },
    )
    freeze_vision: bool = field(
        default=False,
        metadata={
            "help": "freeze the vision tower (patch embedding, blocks, merger): only the language model learns "
            "(as the SFT stages do by default)"
        },
    )
    old_logps: str = field(
        default="auto",
        metadata={
            "help": "old log-probs of the clipped ratio: 'sampling' (the rollout's own, exact in float32; forces "
            "disable_dropout), 'forward' (an extra forward pass; needed in bf16 / fp16, where cached decoding and "
            "a full forward differ, and with use_vllm) or 'auto' (forward in bf16 / fp16 or with use_vllm, else "
            "sampling); 'sampling' with bf16 or fp16 is refused"
        },
    )
    eval_every: int = field(
        default=0,
        metadata={
            "help": "evaluate the policy (greedy episodes on the held-out pairs) every N optimizer steps, before "
            "the first step and after the last (0: off; needs eval_pairs)"
        },
    )
    eval_pairs: int = field(
        default=0,
        metadata={
            "help": "hold out the last N pairs of the environment's dataset: never trained on nor refilled from; "
            "the evaluation plays them"
        },
    )
    eval_max_new_tokens: int | None = field(
        default=None, metadata={"help": "new tokens per turn in evaluation (None: max_completion_length)"}
    )
    best_metric: str | None = field(
        default=None,
        metadata={
            "help": "keep the best policy: after each held-out evaluation whose value of this figure (one of "
            "eval/tau, eval/diff, eval/TA, eval/VQ, eval/MQ, eval/format_valid_turn_rate, eval/return, "
            "eval/finished_rate; higher is better, an equal value keeps the earlier policy) beats every earlier "
            "one, save the policy to output_dir/best with best.json (step and figures); step 0 is the starting "
            "policy. Needs eval_every. None: off"
        },
    )
    train_pairs_from: str | None = field(
        default=None,
        metadata={
            "help": "recorded samples of the starting policy (a .jsonl file or folder, e.g. rejection sampling's "
            "samples.jsonl): train only on the pairs whose samples scored different accuracies, the groups that "
            "carry an advantage (difficulty filter; held-out pairs and pairs outside the environment's dataset are "
            "never kept). None: every pair"
        },
    )
    demo_script_share: float = field(
        default=0.0,
        metadata={
            "help": "CPU demo only: share of episodes played by a scripted protocol policy with random answers "
            "(forced ids, real log-probs); a random tiny model never writes a valid turn"
        },
    )

    def settings_problems(self) -> list[str]:
        """What is wrong with these settings (empty when fine); parses ``env_kwargs`` given as JSON."""
        problems = []
        if isinstance(self.env_kwargs, str):
            try:
                self.env_kwargs = json.loads(self.env_kwargs) if self.env_kwargs.strip() else {}
            except json.JSONDecodeError as error:
                return [f"env_kwargs is not valid JSON ({error}): {self.env_kwargs!r}"]
        if not isinstance(self.env_kwargs, dict):
            problems.append(f"env_kwargs must be a JSON object, got {type(self.env_kwargs).__name__}")
        if self.max_refill_rounds < 0:
            problems.append(f"max_refill_rounds must be >= 0, got {self.max_refill_rounds}")
        if not 0.0 <= self.demo_script_share <= 1.0:
            problems.append(f"demo_script_share must lie in [0, 1], got {self.demo_script_share}")
        if self.rollout_max_batch_size is not None and self.rollout_max_batch_size < 1:
            problems.append(f"rollout_max_batch_size must be >= 1, got {self.rollout_max_batch_size}")
        if self.eval_every < 0 or self.eval_pairs < 0:
            problems.append(f"eval_every and eval_pairs must be >= 0, got {self.eval_every} and {self.eval_pairs}")
        elif self.eval_every > 0 and self.eval_pairs == 0:
            problems.append(f"eval_every={self.eval_every} needs eval_pairs >= 1 (the held-out pairs to evaluate on)")
        if self.best_metric is not None:
            from agents.train.grpo.best_policy import best_metric_problem

            problem = best_metric_problem(self.best_metric, self.eval_every)
            if problem:
                problems.append(problem)
        if self.eval_max_new_tokens is not None and self.eval_max_new_tokens < 1:
            problems.append(f"eval_max_new_tokens must be >= 1 or None, got {self.eval_max_new_tokens}")
        if self.temperature_after_first is not None and self.temperature_after_first <= 0:
            problems.append(f"temperature_after_first must be > 0 or None, got {self.temperature_after_first}")
        if self.synced_generation not in ("auto", "on", "off"):
            problems.append(f"synced_generation must be 'auto', 'on' or 'off', got {self.synced_generation!r}")
        if self.old_logps not in ("auto", "sampling", "forward"):
            problems.append(f"old_logps must be 'auto', 'sampling' or 'forward', got {self.old_logps!r}")
        if isinstance(self.env_kwargs, dict) and self.env_kwargs.get("initial_frames_input", "images") != "images":
            problems.append(
                f"initial_frames_input={self.env_kwargs['initial_frames_input']!r}: the GRPO loss replays each "
                "turn's prompt images, and initial frames given as one video input cannot be replayed; use "
                "'images' (the default) for training"
            )
        return problems

    def environment_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``gym.make("vr_env:VRJudge-v0", ...)`` for the rollouts."""
        kwargs: dict[str, Any] = {"dataset": self.dataset, "reward": self.reward}
        if self.data_root is not None:
            kwargs["data_root"] = self.data_root
        return {**kwargs, **dict(self.env_kwargs)}  # type: ignore[arg-type]

    def own_settings(self) -> dict[str, Any]:
        """The fields this project adds, for printing and saving beside a run."""
        return {f.name: getattr(self, f.name) for f in fields(WindowedSettings)}
