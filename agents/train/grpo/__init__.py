"""Windowed multi-turn GRPO on TRL: the environment plays the episodes, every assistant turn is a row.

Modules: ``trainer`` (:class:`WindowedGRPOTrainer`), ``settings`` (the trainer's own fields and the
paper's TRL values, light to import), ``config`` (:class:`WindowedGRPOConfig`), ``turn_rows`` (turn
records to the loss batch), ``scoring`` (trajectory scores and group advantages), ``metrics`` (what
each generation logs), ``row_temperature`` (each loss row at its own sampling temperature),
``loss_logps`` (old / reference log-probs, rows scored at their temperatures), ``episodes`` (swap
wrapper, CPU-demo script), ``held_out_eval`` (the evaluation hook), ``vllm_server_mode`` (vLLM server generation),
``launch_checks`` (FSDP and checkpoint-cycle refusals) and ``run`` (:func:`run_grpo`, one run end to end).

The public names below are imported on first use, so ``agents.train.grpo.settings`` stays fast to
import (the command line builds its flags from it without importing TRL).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agents.train.grpo.config import WindowedGRPOConfig
    from agents.train.grpo.episodes import demo_script, environment_reward
    from agents.train.grpo.held_out_eval import HeldOutEvalCallback
    from agents.train.grpo.run import run_grpo
    from agents.train.grpo.scoring import STAT_FIELDS
    from agents.train.grpo.settings import PAPER_TRL_DEFAULTS, WindowedSettings
    from agents.train.grpo.trainer import LOSS_BATCH_KEYS, GenerationRecord, WindowedGRPOTrainer

#: Public name -> the module defining it.
_EXPORTS: dict[str, str] = {
    "WindowedGRPOTrainer": "trainer",
    "GenerationRecord": "trainer",
    "LOSS_BATCH_KEYS": "trainer",
    "demo_script": "episodes",
    "environment_reward": "episodes",
    "WindowedGRPOConfig": "config",
    "WindowedSettings": "settings",
    "PAPER_TRL_DEFAULTS": "settings",
    "STAT_FIELDS": "scoring",
    "HeldOutEvalCallback": "held_out_eval",
    "run_grpo": "run",
}

__all__ = [
    "LOSS_BATCH_KEYS",
    "PAPER_TRL_DEFAULTS",
    "STAT_FIELDS",
    "GenerationRecord",
    "HeldOutEvalCallback",
    "WindowedGRPOConfig",
    "WindowedGRPOTrainer",
    "WindowedSettings",
    "demo_script",
    "environment_reward",
    "run_grpo",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
