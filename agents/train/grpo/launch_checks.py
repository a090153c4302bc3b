"""Config-time checks of how a windowed GRPO run is launched and checkpointed.

- :func:`fsdp_problem`: FSDP is refused. Its forward passes are collectives and its parameters are
  sharded, and the windowed trainer's rollouts are neither gathered with ``summon_full_params`` nor
  run in lockstep under FSDP; the supported multi-GPU paths are DDP, DeepSpeed ZeRO-3 (parameters
  gathered for generation, or lockstep generation with ``synced_generation``) and a vLLM server.
- :func:`checkpoint_cycle_problem`: TRL generates once per ``steps_per_generation * num_iterations``
  micro-batches and keeps the batch in memory, not in checkpoints; a checkpoint inside that cycle
  would resume by regenerating at once (a different run). ``save_steps`` must land on cycle
  boundaries.
"""

from __future__ import annotations

import math
import os
from typing import Any

#: What the FSDP refusal names as the supported multi-GPU paths.
SUPPORTED_PATHS = (
    "DDP (accelerate launch / torchrun), DeepSpeed ZeRO-3 (examples/accelerate/zero3.yaml: parameters gathered "
    "for generation, or synced_generation='on' with ds3_gather_for_generation=False) or a vLLM server "
    "(use_vllm=True, vllm_mode='server'); see docs/train-scale.md"
)


def fsdp_problem(config: Any) -> str | None:
    """Why ``config`` (or the launcher's environment) asks for FSDP, which this trainer refuses; ``None`` if not."""
    from_env = os.environ.get("ACCELERATE_USE_FSDP", "false").lower() in ("true", "1")
    if not getattr(config, "fsdp", None) and not from_env:
        return None
    source = "ACCELERATE_USE_FSDP (an accelerate FSDP config)" if from_env else f"fsdp={config.fsdp!r}"
    return (
        f"FSDP is not supported by the windowed GRPO trainer ({source}): its multi-turn rollouts would generate on "
        f"sharded parameters; use {SUPPORTED_PATHS}"
    )


def generation_cycle(config: Any) -> tuple[int, int]:
    """``(micro-batches per generation, micro-batches per optimizer step)`` of a resolved TRL config."""
    spg = int(config.steps_per_generation or config.gradient_accumulation_steps)
    return spg * int(config.num_iterations), int(config.gradient_accumulation_steps)


def checkpoint_cycle_problem(config: Any) -> str | None:
    """Why ``save_steps`` would checkpoint inside a generation cycle; ``None`` when every checkpoint is a boundary.

    ``config`` is resolved (``steps_per_generation`` set). Checkpoint at optimizer step ``s`` is a
    boundary when ``s * gradient_accumulation_steps`` is a multiple of ``steps_per_generation *
    num_iterations``; a fractional ``save_steps`` is resolved against ``max_steps`` when that is set.
    """
    if str(getattr(config.save_strategy, "value", config.save_strategy)) != "steps":
        return None
    every = float(config.save_steps)
    if every < 1:
        if config.max_steps <= 0:
            return None
        every = math.ceil(config.max_steps * every)
    save_steps = int(every)
    per_generation, per_step = generation_cycle(config)
    if (save_steps * per_step) % per_generation == 0:
        return None
    cycle = per_generation // math.gcd(per_generation, per_step)
    return (
        f"save_steps={save_steps} would checkpoint inside a generation cycle: one generation serves "
        f"steps_per_generation x num_iterations = {config.steps_per_generation} x {config.num_iterations} "
        f"micro-batches, an optimizer step takes gradient_accumulation_steps = {per_step}, so a cycle is {cycle} "
        f"optimizer steps and TRL does not checkpoint the buffered generation (a resumed run would regenerate at "
        f"once); use a multiple of {cycle}"
    )
