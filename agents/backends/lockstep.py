"""Collective-safe generation: every rank makes the same number of ``model.generate`` calls.

Under DeepSpeed ZeRO-3 without gathered parameters (or FSDP), every forward pass is a collective,
and transformers' ``generate(synced_gpus=True)`` keeps the ranks' decoding steps in step within one
call. It cannot keep the *calls* in step: in multi-turn rollouts a rank whose episodes have fewer
turns (or no refills to play) makes fewer calls, and the ranks then block in different collectives.

:class:`LockstepGate` closes that gap with one ``all_reduce`` per call. A rank about to generate
announces it (:meth:`LockstepGate.announce`); a rank that has no more calls to make in this phase
:meth:`~LockstepGate.drain`\\ s: it keeps answering the announcements and makes a dummy call for each
(a one-row, one-token generation that, with ``synced_gpus``, takes part in the other ranks' decoding
steps) until no rank announces any more. Every rank must drain at the same point of its program (the
end of a rollout round), after which all ranks agree that the phase is over.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class LockstepGate:
    """One ``all_reduce`` per generation call keeps the ranks' call counts equal (see the module doc)."""

    def __init__(self, device: Any = None) -> None:
        self.device = device
        #: Dummy calls this rank made while draining (over the gate's life).
        self.dummy_calls = 0
        #: Real calls this rank announced (over the gate's life).
        self.calls = 0

    @staticmethod
    def active() -> bool:
        """Whether a process group of more than one rank is running (otherwise the gate does nothing)."""
        import torch.distributed as dist

        return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1

    def _reduce(self, flag: int) -> int:
        import torch
        import torch.distributed as dist

        value = torch.tensor([flag], dtype=torch.int64, device=self.device)
        dist.all_reduce(value, op=dist.ReduceOp.SUM)
        return int(value.item())

    def announce(self) -> None:
        """Before a real generation call: tell the draining ranks to make a dummy call alongside."""
        self.calls += 1
        if self.active():
            self._reduce(1)

    def drain(self, dummy_call: Callable[[], Any]) -> int:
        """Answer the other ranks' announcements with dummy calls until none is left; returns how many."""
        if not self.active():
            return 0
        made = 0
        while self._reduce(0) > 0:
            dummy_call()
            made += 1
        self.dummy_calls += made
        return made
