"""Ending a launched run cleanly: destroy the default process group before the interpreter exits.

Under ``torchrun`` / ``accelerate launch`` the trainer (through ``accelerate``) initialises a process
group and nothing destroys it. Gloo's worker threads then outlive the interpreter's teardown and a
rank can abort at exit with ``terminate called without an active exception`` (pytorch/pytorch#190489),
which fails the launch after the run has finished and saved. The training commands own their
process, so they call :func:`close_process_group` after a successful run. After a failure they do not
call it: destroying a group while another rank is still inside a collective deadlocks.
"""

from __future__ import annotations


def close_process_group() -> bool:
    """Destroy the default process group if one is initialised; ``True`` if it did."""
    try:
        import torch.distributed as dist
    except ImportError:
        return False
    if not (dist.is_available() and dist.is_initialized()):
        return False
    dist.barrier()  # every rank has finished its last collective before any of them tears down
    dist.destroy_process_group()
    return True
