from __future__ import annotations

from pathlib import Path

import torch.distributed as dist

from agents.train.process_group import close_process_group


def test_close_process_group_destroys_the_default_group_once(tmp_path: Path) -> None:
    assert close_process_group() is False  # nothing initialised: nothing to do
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        assert close_process_group() is True
        assert not dist.is_initialized()
        assert close_process_group() is False
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
