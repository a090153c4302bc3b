"""The miniature base: a seeded, deterministic pretraining of a tiny Qwen2.5-VL that sees its defects.

``build_base(out_dir, BaseConfig())`` builds a tiny random-init checkpoint
(:func:`agents.tiny.build_tiny_model`), pretrains its vision tower on single synthetic frames, aligns
merger and language model on frame questions and pair views (:mod:`agents.pretrain.stages`),
checks both on held-out frames and views, and saves a standard Hugging Face folder (same classes,
processor and chat template as any tiny model) with ``base_report.json`` beside it. The result ships
in the package as :data:`MINI_BASE` (rebuild with ``vr-env pretrain-base --out DIR``); the
miniature VR-Thinker (``examples/05_mini_vrthinker.py``) and ``benchmarks/grpo_learning.py``
start from it.

:data:`MINI_PRESET` and :data:`MINI_ENV` are the miniature's synthetic preset and environment, so the
base is pretrained on the defect kinds and the frame layout it will judge (with seeds of its own).
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

#: The miniature's synthetic preset: VQ defects only, noise at the stronger level (std 55 grey levels),
#: in half of the videos, each defect 12 raw frames long (one candidate frame of 8 per video).
MINI_PRESET: dict[str, Any] = {
    "kinds": ["noise"],
    "defect_prob": {"VQ": 0.5},
    "severity_levels": 2,
    "min_severity": 2,
    "defect_extent": 0.125,
}
#: The miniature's environment: 8 candidate frames per video, 4 + 4 initial, one call fetches the other 8.
MINI_ENV: dict[str, Any] = {"frames_per_video": 8, "memory_window": 1, "dataset_kwargs": MINI_PRESET}
#: The shipped base (built by ``vr-env pretrain-base`` with the defaults of :class:`BaseConfig`).
MINI_BASE = Path(__file__).with_name("mini_base")
REPORT_FILE = "base_report.json"


def _f(default: Any, text: str) -> Any:
    return field(default=default, metadata={"help": text})


@dataclass
class BaseConfig:
    """Sizes and settings of the base's pretraining (the defaults build :data:`MINI_BASE`)."""

    seed: int = _f(0, "seed of the weights, the data streams and the batches")
    hidden_size: int = _f(128, "text model width (a multiple of 64)")
    num_layers: int = _f(2, "text model layers")
    vision_hidden_size: int = _f(32, "vision tower width (a multiple of 32)")
    train_frames: int = _f(2048, "single frames drawn for training")
    test_frames: int = _f(256, "held-out single frames")
    train_views: int = _f(2048, "pair views drawn for alignment")
    test_views: int = _f(64, "held-out pair views")
    tower_steps: int = _f(150, "stage 1 steps (tower + linear head)")
    tower_lr: float = _f(3e-3, "stage 1 AdamW learning rate")
    align_steps: int = _f(1500, "stage 2 steps (merger + language model; frame and view batches alternate)")
    align_lr: float = _f(1e-3, "stage 2 AdamW learning rate")
    frame_batch: int = _f(16, "single frames per batch")
    view_batch: int = _f(8, "pair views per batch")
    eval_every: int = _f(250, "held-out checks every N steps of stage 2")
    threads: int = _f(2, "torch CPU threads")
    kinds: tuple[str, ...] = field(default=tuple(MINI_PRESET["kinds"]), metadata={"help": "defect kinds to see"})


def _synthetic(seed: int) -> Any:
    from vr_env.data.synthetic import synthetic_config

    return synthetic_config(**{**MINI_PRESET, "seed": seed})


def build_base(out_dir: str | Path, config: BaseConfig | None = None, *, verbose: bool = True) -> dict[str, Any]:
    """Build, pretrain, check and save the base into ``out_dir``; returns (and writes) the report."""
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from agents.pretrain import stages
    from agents.tiny import build_tiny_model
    from vr_env.config import EnvConfig

    config = config or BaseConfig()
    kinds = tuple(config.kinds)
    torch.set_num_threads(config.threads)
    started = time.perf_counter()
    out = build_tiny_model(
        "qwen2_5_vl",
        out_dir,
        seed=config.seed,
        hidden_size=config.hidden_size,
        num_layers=config.num_layers,
        vision_hidden_size=config.vision_hidden_size,
    )
    model = AutoModelForImageTextToText.from_pretrained(str(out), dtype=torch.float32)
    processor = AutoProcessor.from_pretrained(str(out))
    env = EnvConfig(**{k: v for k, v in MINI_ENV.items() if k != "dataset_kwargs"}, max_tool_calls=1)
    base = 1000 * (config.seed + 1)  # data seeds of their own: never the benchmark's seed 0
    frames, labels = stages.frame_bank(config.train_frames, kinds=kinds, seed=base + 1)
    test_frames, test_labels = stages.frame_bank(config.test_frames, kinds=kinds, seed=base + 2)
    views = stages.make_views(config.train_views, _synthetic(base + 3), env)
    test_views = stages.make_views(config.test_views, _synthetic(base + 4), env)

    def say(text: str) -> None:
        if verbose:
            print(f"[base {time.perf_counter() - started:6.1f} s] {text}", flush=True)

    say(f"data: {len(frames)} frames, {len(views)} pair views")
    before = stages.frame_accuracy(model, processor, test_frames, test_labels, kinds)
    head, tower = stages.train_tower(
        model, processor, frames, labels, steps=config.tower_steps, lr=config.tower_lr,
        batch_size=config.frame_batch, seed=config.seed,
        evaluate=lambda h: stages.head_accuracy(model, processor, h, test_frames, test_labels), eval_every=50,
    )  # fmt: skip
    say(f"stage 1 (tower): held-out head accuracy {tower.evals[-1][1]:.3f}")

    def check() -> float:
        frame = stages.frame_accuracy(model, processor, test_frames, test_labels, kinds)
        view = stages.view_accuracy(model, processor, test_views, env)
        say(f"stage 2 (alignment): frames {frame:.3f}, pair views {view:.3f}")
        return frame

    align = stages.align(
        model, processor, frames, labels, kinds, views, env, steps=config.align_steps, lr=config.align_lr,
        frame_batch=config.frame_batch, view_batch=config.view_batch, seed=config.seed, evaluate=check,
        eval_every=config.eval_every,
    )  # fmt: skip
    for parameter in model.parameters():
        parameter.requires_grad_(True)
    model.save_pretrained(str(out))
    report = {
        "config": asdict(config),
        "machine": f"{platform.machine()} CPU, torch threads {config.threads}",
        "frame_accuracy_before": before,
        "frame_accuracy": stages.frame_accuracy(model, processor, test_frames, test_labels, kinds),
        "view_accuracy": stages.view_accuracy(model, processor, test_views, env),
        "tower": {"evals": tower.evals, "loss_first": tower.losses[0], "loss_last": tower.losses[-1]},
        "align": {"evals": align.evals, "loss_first": align.losses[0], "loss_last": align.losses[-1]},
        "seconds": round(time.perf_counter() - started, 1),
        "weights_bytes": (out / "model.safetensors").stat().st_size,
    }
    (out / REPORT_FILE).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    say(f"done: frames {report['frame_accuracy']:.3f}, views {report['view_accuracy']:.3f}; {out}")
    return report
