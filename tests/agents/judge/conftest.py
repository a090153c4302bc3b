"""Judge tests run torch on one thread: on a shared 2-core machine, OpenMP barriers between two
threads made each tiny-model step up to 10x slower (measured: 31 s vs 2.6 s for one batch).
``video_root``: a folder of tiny mp4 files (and one text file named .mp4) for the server tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread() -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def video_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from vr_env.video.writer import write_mp4

    root = tmp_path_factory.mktemp("videos")
    for n in range(1, 7):
        write_mp4(root / f"v{n}.mp4", np.full((6, 32, 32, 3), 20 * n, dtype=np.uint8), fps=8)
    (root / "notes.mp4").write_text("this is text, not a video")
    return root
