"""Gathering Python objects across the processes of a training run (``torch.distributed``).

Trainers compute rewards per process: TRL on each GPU's slice of the batch, Flow-GRPO after its
``DistributedKRepeatSampler`` spread a prompt's samples over GPUs. When a process group is
initialised (``torchrun``, ``accelerate launch``: accelerate initialises ``torch.distributed``), the
reward adapters gather every process's samples so each prompt's group is complete. Nothing is
initialised here; without a process group (or with one process) the batch is local.
"""

from __future__ import annotations

import sys
from typing import Any


def world(group: Any = None) -> tuple[int, int]:
    """``(rank, world_size)`` of the initialised process group, else ``(0, 1)``."""
    if "torch.distributed" not in sys.modules:
        return 0, 1
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return 0, 1
    return dist.get_rank(group), dist.get_world_size(group)


def all_gather(value: Any, group: Any = None) -> list[Any]:
    """``value`` from every process, in rank order (``[value]`` without a process group)."""
    _, size = world(group)
    if size == 1:
        return [value]
    import torch.distributed as dist

    gathered: list[Any] = [None] * size
    dist.all_gather_object(gathered, value, group=group)
    return gathered
