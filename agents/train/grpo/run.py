"""One GRPO run end to end: load the policy, train, save the model, the metrics and a reward curve.

``run_grpo(config, model)`` is what ``vr-env train grpo`` calls. ``model`` is a checkpoint folder
(e.g. the rejection-sampling output) or ``tiny`` / ``tiny:qwen3_vl`` for a freshly built tiny
random-weight model (CPU demos). Outputs in ``config.output_dir``: ``checkpoint-N/`` (TRL's, for
resuming), the final model and processor, ``grpo_config.json``, ``metrics.jsonl`` (one line per
logged step, every reward component; with ``eval_every`` also the ``eval/*`` rows of the held-out
evaluation) and ``reward_curve.png``; with ``best_metric``, ``best/`` holds the policy of the best
held-out evaluation (``best_policy``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from agents.train.grpo.config import WindowedGRPOConfig

#: Metrics drawn in the reward curve (one panel each), when logged: ``reward`` and the components are
#: the first round's (before dynamic sampling's refills), ``refilled/reward`` the batch trained on,
#: ``eval/*`` the held-out greedy evaluation.
CURVE_METRICS: tuple[str, ...] = (
    "reward",
    "refilled/reward",
    "rewards/format/mean",
    "rewards/accuracy/mean",
    "rewards/cot_gain/mean",
    "rewards/exploration/mean",
    "trajectory/tool_calls/mean",
    "dynamic_sampling/dropped_share",
    "loss",
    "eval/tau",
    "eval/diff",
)


def resolve_model(model: str, output_dir: str | Path, seed: int = 0) -> Path:
    """A checkpoint folder for ``model``; ``tiny[:arch]`` builds one under ``output_dir/base-model``."""
    if model == "tiny" or model.startswith("tiny:"):
        from agents.tiny import build_tiny_model

        arch = model.partition(":")[2] or "qwen2_5_vl"
        folder = Path(output_dir) / "base-model"
        if not (folder / "config.json").is_file():
            build_tiny_model(arch, folder, seed=seed)  # type: ignore[arg-type]
        return folder
    folder = Path(model)
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"no model checkpoint at {folder} (expected a folder with config.json), or use 'tiny'")
    return folder


def policy_dtype(config: WindowedGRPOConfig) -> Any:
    """The dtype to load the policy in: ``model_init_kwargs["dtype"]`` if set, else float32 (as TRL does).

    ``bf16`` / ``fp16`` are then mixed precision over float32 weights (DeepSpeed keeps its own float32
    master copy). Loading the weights themselves in bf16 would round every AdamW update smaller than
    about 1/256 of a weight away, and round a float32 checkpoint before the first step.
    """
    import torch

    kwargs = config.model_init_kwargs or {}
    dtype = (json.loads(kwargs) if isinstance(kwargs, str) else kwargs).get("dtype", torch.float32)
    return getattr(torch, dtype) if isinstance(dtype, str) and dtype != "auto" else dtype


def last_checkpoint(output_dir: str | Path) -> str | None:
    """The newest complete ``checkpoint-N`` folder (one with ``trainer_state.json``), if any."""
    folders = [p for p in Path(output_dir).glob("checkpoint-*") if (p / "trainer_state.json").is_file()]
    folders = [p for p in folders if p.name.split("-")[-1].isdigit()]
    return str(max(folders, key=lambda p: int(p.name.split("-")[-1]))) if folders else None


def run_grpo(config: WindowedGRPOConfig, model: str, *, resume: bool = False) -> dict[str, Any]:
    """Train, then save model, metrics and plot; returns a summary (paths, steps, first/last reward)."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from agents.train.grpo.trainer import WindowedGRPOTrainer

    out = Path(str(config.output_dir))
    out.mkdir(parents=True, exist_ok=True)
    folder = resolve_model(model, out, seed=config.seed)
    policy = AutoModelForImageTextToText.from_pretrained(str(folder), dtype=policy_dtype(config))
    processor = AutoProcessor.from_pretrained(str(folder))
    settings = {
        k: v for k, v in config.to_dict().items() if isinstance(v, (str, int, float, bool, type(None), dict, list))
    }
    (out / "grpo_config.json").write_text(json.dumps({"model": str(folder), **settings}, indent=2, default=str))
    trainer = WindowedGRPOTrainer(policy, config, processor)
    checkpoint = last_checkpoint(out) if resume else None
    trainer.train(resume_from_checkpoint=checkpoint)
    trainer.save_model(str(out))
    history = [row for row in trainer.state.log_history if "reward" in row]
    if trainer.accelerator.is_main_process:
        processor.save_pretrained(str(out))
        with (out / "metrics.jsonl").open("w", encoding="utf-8") as handle:
            for row in trainer.state.log_history:
                handle.write(json.dumps(row) + "\n")
        plot_curve(trainer.state.log_history, out / "reward_curve.png")
    return {
        "main_process": bool(trainer.accelerator.is_main_process),
        "output_dir": str(out),
        "model": str(folder),
        "resumed_from": checkpoint,
        "steps": trainer.state.global_step,
        "first_reward": history[0]["reward"] if history else None,
        "last_reward": history[-1]["reward"] if history else None,
        "best": best_summary(trainer),
    }


def best_summary(trainer: Any) -> dict[str, Any] | None:
    """With ``best_metric``: metric, value, step and folder of the kept policy (None otherwise)."""
    from agents.train.grpo.held_out_eval import HeldOutEvalCallback

    for callback in trainer.callback_handler.callbacks:
        if isinstance(callback, HeldOutEvalCallback) and callback.best is not None:
            return callback.best.summary()
    return None


def plot_curve(history: list[dict[str, Any]], path: str | Path) -> Path:
    """One panel per logged metric of :data:`CURVE_METRICS` against the step (missing, None and NaN skipped)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [m for m in CURVE_METRICS if any(m in row for row in history)] or ["reward"]
    columns = 4
    rows = -(-len(names) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4 * columns, 3 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):
        points = [(row["step"], row[name]) for row in history if _finite(row.get(name))]
        if points:
            steps, values = zip(*points, strict=True)
            ax.plot(steps, values, marker="o")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("step")
    for ax in list(axes.flat)[len(names) :]:
        ax.axis("off")
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)
    return Path(path)


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)
