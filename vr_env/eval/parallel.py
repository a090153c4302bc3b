"""Data-parallel evaluation: under ``torchrun`` or ``accelerate launch`` each process plays one shard.

:func:`detect_launch` finds the process's rank and the world size: from an initialised
``torch.distributed`` process group (``accelerate`` initialises one), else from the ``RANK`` /
``WORLD_SIZE`` / ``LOCAL_RANK`` variables the launchers set. :class:`Collective` gathers the
shards' rows over a gloo group of its own (whatever backend the default group uses, e.g. NCCL),
with a long timeout: ranks finish their shards at different times and wait for the slowest.
Nothing here needs a shared file system: rows travel through the process group.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from datetime import timedelta
from types import TracebackType
from typing import Any

#: How long a rank that finished its shard waits for the others at the final gather.
GATHER_TIMEOUT = timedelta(hours=72)


@dataclass(frozen=True)
class Launch:
    """This process's place in a multi-process launch."""

    rank: int
    world_size: int
    local_rank: int


def _env_int(name: str, default: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        if default is None:
            raise ValueError(f"{name} is not set, but WORLD_SIZE is: launch with torchrun or accelerate launch")
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not an integer") from None


def detect_launch() -> Launch | None:
    """The launch this process belongs to, or ``None`` for a single process (world size 1)."""
    if "torch.distributed" in sys.modules:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            world = dist.get_world_size()
            rank = dist.get_rank()
            return Launch(rank, world, _env_int("LOCAL_RANK", rank)) if world > 1 else None
    world = _env_int("WORLD_SIZE", 1)
    if world <= 1:
        return None
    rank = _env_int("RANK")
    if not 0 <= rank < world:
        raise ValueError(f"RANK={rank} is outside 0..{world - 1} (WORLD_SIZE={world})")
    return Launch(rank, world, _env_int("LOCAL_RANK", rank))


class Collective:
    """A gloo process group for gathering Python objects across the launch (context manager).

    It initialises the default process group from the launcher's variables when nobody has (and
    destroys it on exit), else makes a gloo group beside the existing one.
    """

    def __init__(self, launch: Launch, timeout: timedelta = GATHER_TIMEOUT) -> None:
        self.launch, self.timeout = launch, timeout
        self._owned = False
        self._group: Any = None

    def __enter__(self) -> Collective:
        import torch.distributed as dist

        if not dist.is_available():
            raise RuntimeError("this torch build has no torch.distributed: run one process per --shard I/N instead")
        if not dist.is_initialized():
            absent = [name for name in ("MASTER_ADDR", "MASTER_PORT") if not os.environ.get(name)]
            if absent:
                raise ValueError(
                    f"WORLD_SIZE={self.launch.world_size} is set but {' and '.join(absent)} not: launch with "
                    "torchrun or accelerate launch, or run independent processes with --shard I/N"
                )
            dist.init_process_group(
                backend="gloo", rank=self.launch.rank, world_size=self.launch.world_size, timeout=self.timeout
            )
            self._owned = True
        else:
            self._group = dist.new_group(backend="gloo", timeout=self.timeout)
        return self

    def all_gather(self, value: Any) -> list[Any]:
        """``value`` of every rank, in rank order (every rank gets the list)."""
        import torch.distributed as dist

        gathered: list[Any] = [None] * self.launch.world_size
        dist.all_gather_object(gathered, value, group=self._group)
        return gathered

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        import torch.distributed as dist

        if self._owned and dist.is_initialized():
            dist.destroy_process_group()
        elif self._group is not None:
            dist.destroy_process_group(self._group)
