"""Training configurations: dataclasses with the paper's defaults and per-field help.

The help text drives the ``vr-env train`` flags (:func:`add_dataclass_arguments`); every run prints
its configuration and saves it beside the checkpoint (:func:`save_config`).

Paper (spec section 4): SFT with lr 1.5e-6, warm-up ratio 0.2, batch 1 x gradient accumulation 32
(effective batch 32); rollouts at temperature 1.0 (0.9 after the first turn), top-p 0.95, top-k 40,
up to 2048 new tokens per turn.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any


def _f(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass
class SFTRunConfig:
    """Supervised fine-tuning on recorded turns (cold-start traces or accepted RS samples)."""

    learning_rate: float = _f(1.5e-6, "peak learning rate (paper: 1.5e-6)")
    warmup_ratio: float = _f(0.2, "share of the steps spent warming the learning rate up (paper: 0.2)")
    per_device_train_batch_size: int = _f(1, "turns per device per micro-batch (paper: 1)")
    gradient_accumulation_steps: int = _f(32, "micro-batches per optimizer step (paper: 32; effective batch 32)")
    num_train_epochs: float = _f(1.0, "passes over the turns")
    max_steps: int = _f(-1, "optimizer steps; overrides num_train_epochs when > 0")
    lr_scheduler_type: str = _f("cosine", "learning-rate schedule after warm-up (transformers name)")
    weight_decay: float = _f(0.0, "AdamW weight decay")
    max_grad_norm: float = _f(1.0, "gradient clipping norm")
    seed: int = _f(0, "seed of data order and initialisation of new weights (LoRA)")
    lora: bool = _f(False, "train LoRA adapters (peft) instead of all weights; merged into the saved model")
    lora_r: int = _f(16, "LoRA rank")
    lora_alpha: int = _f(32, "LoRA scaling alpha")
    lora_dropout: float = _f(0.0, "LoRA dropout (0 keeps runs exactly resumable)")
    lora_target_modules: str = _f("q_proj,k_proj,v_proj,o_proj", "comma-separated module names LoRA adapts")
    freeze_vision: bool = _f(True, "freeze the vision tower (the official script does)")
    gradient_checkpointing: bool = _f(False, "recompute activations in the backward pass to save memory")
    bf16: bool = _f(False, "train in bfloat16 mixed precision (GPU)")
    use_cpu: bool = _f(False, "train on the CPU even if a GPU is present")
    logging_steps: int = _f(1, "log every N optimizer steps")
    save_steps: int = _f(50, "save a checkpoint every N optimizer steps (resume picks the latest)")
    save_total_limit: int = _f(2, "checkpoints kept in the output folder")
    dataloader_num_workers: int = _f(0, "data-loading worker processes")
    verify_prompt_ids: bool = _f(True, "check recorded prompt ids against the replayed context's rendering")
    torch_threads: int = _f(0, "torch CPU threads (0: torch's default)")

    def __post_init__(self) -> None:
        problems = []
        if self.learning_rate <= 0:
            problems.append(f"learning_rate must be > 0, got {self.learning_rate}")
        if not 0 <= self.warmup_ratio < 1:
            problems.append(f"warmup_ratio must lie in [0, 1), got {self.warmup_ratio}")
        if self.per_device_train_batch_size < 1 or self.gradient_accumulation_steps < 1:
            problems.append("per_device_train_batch_size and gradient_accumulation_steps must be >= 1")
        if self.num_train_epochs <= 0 and self.max_steps <= 0:
            problems.append("give num_train_epochs > 0 or max_steps > 0")
        if self.save_steps < 1:
            problems.append(f"save_steps must be >= 1, got {self.save_steps}")
        if problems:
            raise ValueError("invalid SFT configuration: " + "; ".join(problems))

    @property
    def effective_batch_size(self) -> int:
        """Turns per optimizer step on one device."""
        return self.per_device_train_batch_size * self.gradient_accumulation_steps


@dataclass
class RejectionConfig:
    """Rejection sampling: K samples per pair from a checkpoint, keep well-formed all-correct ones."""

    samples_per_pair: int = _f(8, "trajectories sampled per pair (K)")
    max_per_pair: int = _f(4, "accepted trajectories kept per pair at most (after removing duplicates)")
    limit: int | None = _f(None, "pairs to sample on (the first N, or of a seeded permutation with --shuffle)")
    offset: int = _f(0, "skip this many pairs first (keep held-out pairs out of training)")
    shuffle: bool = _f(False, "draw the pairs from a seeded permutation of the dataset")
    temperature: float = _f(1.0, "sampling temperature of the first turn (paper: 1.0)")
    temperature_after_first: float | None = _f(0.9, "temperature of later turns (paper: 0.9)")
    top_p: float = _f(0.95, "nucleus sampling (paper: 0.95)")
    top_k: int = _f(40, "top-k sampling (paper: 40)")
    max_new_tokens: int = _f(2048, "tokens per turn at most (paper: 2048)")
    max_batch_size: int | None = _f(None, "rows per generation batch (None: every active episode)")
    seed: int = _f(0, "sampling seed")

    def __post_init__(self) -> None:
        if self.samples_per_pair < 1 or self.max_per_pair < 1:
            raise ValueError("samples_per_pair and max_per_pair must be >= 1")
        if self.temperature <= 0:
            raise ValueError(f"rejection sampling samples: temperature must be > 0, got {self.temperature}")


def add_dataclass_arguments(parser: argparse.ArgumentParser | Any, cls: type, *, skip: tuple[str, ...] = ()) -> None:
    """One ``--field-name`` flag per dataclass field, typed from its default, help from its metadata."""
    for f in fields(cls):
        if f.name in skip:
            continue
        flag = "--" + f.name.replace("_", "-")
        default = f.default if f.default is not MISSING else None
        help_text = f.metadata.get("help", "") + f" (default: {default})"
        if isinstance(default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        else:
            kind = _field_type(f.type, default)
            parser.add_argument(flag, type=kind, default=None, metavar=f.name.upper(), help=help_text)


def _field_type(annotation: Any, default: Any) -> Any:
    text = str(annotation)
    if "float" in text:
        return float
    if "int" in text:
        return int
    return str


def dataclass_from_args(cls: type, args: argparse.Namespace, **overrides: Any) -> Any:
    """An instance of ``cls`` from parsed flags (unset flags keep the dataclass defaults)."""
    values = {f.name: getattr(args, f.name) for f in fields(cls) if getattr(args, f.name, None) is not None}
    return cls(**{**values, **overrides})


def config_dict(config: Any) -> dict[str, Any]:
    data = asdict(config)
    if hasattr(config, "effective_batch_size"):
        data["effective_batch_size"] = config.effective_batch_size
    return data


def save_config(out_dir: str | Path, name: str, **configs: Any) -> Path:
    """Write ``{section: asdict(config)}`` as ``out_dir/name`` (JSON) and return the path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = {
        key: config_dict(value) if hasattr(value, "__dataclass_fields__") else value for key, value in configs.items()
    }
    path = out / name
    path.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
    return path


def describe(config: Any) -> str:
    """A printable listing of a configuration, one ``name = value`` per line."""
    return "\n".join(f"  {k} = {v}" for k, v in config_dict(config).items())
