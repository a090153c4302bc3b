"""write_mp4: H.264 round trip with PyAV and clear errors."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from vr_env.video.writer import write_mp4


def _frames(n: int = 24, h: int = 64, w: int = 96) -> np.ndarray:
    """Smooth moving gradients (compress well, so the round-trip error stays small)."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    out = np.empty((n, h, w, 3), dtype=np.uint8)
    for t in range(n):
        out[t, ..., 0] = (xs * 255 / w + 4 * t) % 256
        out[t, ..., 1] = ys * 255 / h
        out[t, ..., 2] = 128 + 60 * np.sin((xs + ys + 3 * t) / 12)
    return out


def _read(path: Path) -> tuple[np.ndarray, av.video.stream.VideoStream]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(stream)])
        return frames, stream


def test_round_trip(tmp_path: Path) -> None:
    frames = _frames()
    path = write_mp4(tmp_path / "sub" / "clip.mp4", frames, fps=24)
    assert path == tmp_path / "sub" / "clip.mp4" and path.stat().st_size > 0
    decoded, stream = _read(path)
    assert decoded.shape == frames.shape
    assert stream.codec_context.name == "h264" and stream.codec_context.pix_fmt == "yuv420p"
    assert float(stream.average_rate) == pytest.approx(24.0)
    assert np.abs(decoded.astype(np.int16) - frames).mean() < 4.0


def test_iterable_input_and_ntsc_rate(tmp_path: Path) -> None:
    frames = _frames(10)
    path = write_mp4(tmp_path / "gen.mp4", (f for f in frames), fps=24000 / 1001)
    decoded, stream = _read(path)
    assert len(decoded) == 10 and stream.average_rate.denominator == 1001


def test_odd_sizes_are_padded_or_rejected(tmp_path: Path) -> None:
    frames = _frames(4, 31, 45)
    decoded, _ = _read(write_mp4(tmp_path / "odd.mp4", frames, fps=10))
    assert decoded.shape == (4, 32, 46, 3)
    assert np.abs(decoded[:, :31, :45].astype(np.int16) - frames).mean() < 6.0
    with pytest.raises(ValueError, match="even sides"):
        write_mp4(tmp_path / "odd2.mp4", frames, fps=10, pad_odd=False)
    assert not (tmp_path / "odd2.mp4").exists()


@pytest.mark.parametrize(
    ("frames", "fps", "message"),
    [
        (np.zeros((0, 8, 8, 3), np.uint8), 24, "no frames"),
        ([], 24, "no frames"),
        (np.zeros((2, 8, 8, 3), np.float32), 24, "uint8"),
        (np.zeros((2, 8, 8), np.uint8), 24, r"\(n, H, W, 3\)"),
        ([np.zeros((8, 8, 4), np.uint8)], 24, r"\(H, W, 3\)"),
        ([np.zeros((8, 8, 3), np.uint8), np.zeros((10, 8, 3), np.uint8)], 24, "frame 1 has shape"),
        (np.zeros((2, 8, 8, 3), np.uint8), 0, "fps"),
        (np.zeros((2, 8, 8, 3), np.uint8), float("nan"), "fps"),
        (np.zeros((2, 8, 8, 3), np.uint8), "fast", "fps"),
    ],
)
def test_clear_errors_leave_no_file(tmp_path: Path, frames, fps, message: str) -> None:
    path = tmp_path / "bad.mp4"
    with pytest.raises(ValueError, match=message) as info:
        write_mp4(path, frames, fps=fps)
    assert str(path) in str(info.value)
    assert not path.exists()
