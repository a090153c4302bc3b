"""Issue 8 doorstep: validate-data catches a truncated mp4 without decoding, and says what it checked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vr_env import cli
from vr_env.data.container import check_container
from vr_env.video.writer import write_mp4


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    frames = np.random.default_rng(0).integers(0, 255, (24, 32, 32, 3), dtype=np.uint8)
    path = tmp_path / "root" / "videos" / "a.mp4"
    path.parent.mkdir(parents=True)
    write_mp4(path, frames, 24.0)
    return path


def test_a_whole_mp4_passes_and_a_cut_one_does_not(clip: Path) -> None:
    assert check_container(clip) == ("mp4", None)
    data = clip.read_bytes()
    for keep in (len(data) - 1, len(data) // 2, 20):
        clip.write_bytes(data[:keep])
        container, problem = check_container(clip)
        assert container == "mp4" and problem is not None and ("truncated" in problem or "moov" in problem)


def test_other_files(tmp_path: Path) -> None:
    (tmp_path / "t.txt").write_bytes(b"hello world, not a video")
    assert check_container(tmp_path / "t.txt") == (None, None)
    (tmp_path / "w.webm").write_bytes(b"\x1a\x45\xdf\xa3" + bytes(40))
    assert check_container(tmp_path / "w.webm") == ("matroska/webm", None)
    (tmp_path / "a.avi").write_bytes(b"RIFF" + (1000).to_bytes(4, "little") + b"AVI " + bytes(20))
    assert "truncated" in str(check_container(tmp_path / "a.avi")[1])


def test_validate_data_reports_a_truncated_mp4_without_decode(clip: Path, capsys) -> None:
    root = clip.parent.parent
    good = clip.parent / "b.mp4"
    good.write_bytes(clip.read_bytes())
    clip.write_bytes(clip.read_bytes()[:-100])
    (root / "pairs.csv").write_text("prompt,video_1,video_2\na cat,videos/a.mp4,videos/b.mp4\n")
    assert cli.main(["validate-data", "--dataset", "generic", "--data-root", str(root)]) == 1
    out = capsys.readouterr().out
    assert "unreadable video: 1" in out and "a.mp4" in out and "truncated" in out
    assert "frames not decoded (--decode" in out
