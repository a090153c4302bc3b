"""Fixtures for the windowed GRPO trainer tests: a fresh tiny model per test, a trainer factory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

#: Small episodes: 16 candidate frames per video, up to 3 tool calls, p = 1 (the paper's window).
GRPO_ENV: dict[str, Any] = {"frames_per_video": 16, "max_tool_calls": 3, "memory_window": 1}


@pytest.fixture
def make_trainer(tiny_model_dir: Path, tmp_path: Path) -> Callable[..., Any]:
    """``make_trainer(script=..., pairs=[...], eval_script=..., **config)``: a CPU trainer on a fresh tiny model."""

    def make(
        *,
        script: Any = None,
        pairs: list[int] | None = None,
        env_factory: Any = None,
        eval_script: Any = None,
        **overrides: Any,
    ) -> Any:
        import torch
        from datasets import Dataset
        from transformers import AutoModelForImageTextToText, AutoProcessor

        from agents.train.grpo import WindowedGRPOTrainer
        from agents.train.grpo.config import WindowedGRPOConfig

        torch.set_num_threads(1)
        model = AutoModelForImageTextToText.from_pretrained(str(tiny_model_dir), dtype=torch.float32)
        processor = AutoProcessor.from_pretrained(str(tiny_model_dir))
        settings: dict[str, Any] = {
            "output_dir": str(tmp_path / "run"),
            "use_cpu": True,
            "bf16": False,
            "max_steps": 1,
            "num_generations": 2,
            "per_device_train_batch_size": 2,
            "env_kwargs": dict(GRPO_ENV),
            "max_completion_length": 8,
            "report_to": [],
            "logging_steps": 1,
            "save_strategy": "no",
            "dynamic_sampling": False,
            "learning_rate": 1e-3,
            "seed": 0,
            **overrides,
        }
        args = WindowedGRPOConfig(**settings)
        dataset = None if pairs is None else Dataset.from_dict({"pair_index": list(pairs)})
        return WindowedGRPOTrainer(
            model, args, processor, dataset, script=script, env_factory=env_factory, eval_script=eval_script
        )

    return make
