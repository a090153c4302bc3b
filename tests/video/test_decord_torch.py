"""decord2 preloads NVIDIA libraries globally; torch must still work after our decord backend ran."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path


def test_torch_matmul_survives_decord_backend(videogen_example: Path) -> None:
    clip = videogen_example / "videos" / "example_1_A.mp4"
    code = textwrap.dedent(
        f"""
        from vr_env.data.records import VideoRef
        from vr_env.video.source import FrameSource
        frames = FrameSource(backend="decord", cache_bytes=1 << 28).frames(
            VideoRef({str(clip)!r}), [0, 5], frames_per_video=8, max_pixels=64 * 784)
        import torch
        a = torch.randn(256, 256)
        for _ in range(20):
            a = torch.tanh(a @ a)
        print("ok", len(frames), bool(torch.isfinite(a).all()))
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-1500:]
    assert result.stdout.split() == ["ok", "2", "True"]
