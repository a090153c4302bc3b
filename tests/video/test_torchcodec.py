"""The torchcodec backend, run with PyAV's FFmpeg libraries (``vr_env.video.ffmpeg_libs``): the same
frame counts and pixels as PyAV on the real clips, and data errors as ``VideoError``.

The loader reads ``LD_LIBRARY_PATH`` only when a process starts, so the checks run in a subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

CHECK = """
import json, sys
import numpy as np
from vr_env.video import FrameSource, VideoError, VideoRef, get_backend, uniform_indices

clips, bad = sys.argv[1:-1], sys.argv[-1]
out = {"clips": []}
torchcodec, pyav = get_backend("torchcodec"), get_backend("pyav")
for path in clips:
    a, b = torchcodec.open(path), pyav.open(path)
    idx = sorted(set(uniform_indices(b.num_frames, 8).tolist()))
    diff = max(int(np.abs(x.astype(int) - y).max()) for x, y in zip(a.read(idx), b.read(idx)))
    shown = FrameSource(backend="torchcodec", cache_bytes=1 << 28).frames(VideoRef(path), [0, 47], 48, 400 * 784)
    out["clips"].append([a.num_frames, b.num_frames, diff, [list(f.shape) for f in shown]])
try:
    torchcodec.open(bad)
except VideoError as exc:
    out["error"] = str(exc)
print(json.dumps(out))
"""


def test_torchcodec_backend_matches_pyav(videogen_example: Path, tmp_path: Path) -> None:
    from vr_env.video.ffmpeg_libs import pyav_library_path

    bad = tmp_path / "notes.mp4"
    bad.write_text("not a video\n" * 40)
    clips = sorted(str(p) for p in (videogen_example / "videos").glob("*.mp4"))
    env = {**os.environ, "LD_LIBRARY_PATH": pyav_library_path(tmp_path / "ffmpeg"), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", CHECK, *clips, str(bad)], capture_output=True, text=True, env=env, check=False
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(out["clips"]) == 4
    for n_torchcodec, n_pyav, diff, shapes in out["clips"]:
        assert n_torchcodec == n_pyav > 100 and diff == 0  # the same FFmpeg: identical RGB frames
        assert all(h % 28 == 0 and w % 28 == 0 and h * w <= 400 * 784 for h, w, _ in shapes)
    assert "notes.mp4" in out["error"] and "not a video" in out["error"]
