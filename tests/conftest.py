"""Shared fixtures: a tiny labelled dataset of in-memory clips, independent of the synthetic generator."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from vr_env.data.base import PairDataset
from vr_env.data.records import PairRecord, VideoRef

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@dataclass(frozen=True)
class GradientClip:
    """Frame ``i`` is a flat image of brightness ``(base + i) % 256``: easy to check which frame arrived."""

    base: int
    num_frames: int = 96
    fps: float = 24.0
    height: int = 56
    width: int = 84

    def render(self, frame_indices: np.ndarray) -> np.ndarray:
        values = (self.base + np.asarray(frame_indices, dtype=np.int64)) % 256
        out = np.empty((len(values), self.height, self.width, 3), dtype=np.uint8)
        out[:] = values[:, None, None, None].astype(np.uint8)
        return out


def make_pairs(n: int = 6) -> PairDataset:
    labels = [
        {"TA": 1, "VQ": 2, "MQ": 0, "OA": 1},
        {"TA": 2, "VQ": 2, "MQ": 2, "OA": 2},
        {"TA": 0, "VQ": 0, "MQ": 0, "OA": 0},
    ]
    records = []
    for i in range(n):
        clip_1, clip_2 = GradientClip(base=10 * i), GradientClip(base=10 * i + 100)
        records.append(
            PairRecord(
                pair_id=f"pair-{i}",
                prompt=f"A test scene number {i}.",
                video_1=VideoRef(f"synthetic:test/{i}/1", fps=24.0, num_frames=96, clip=clip_1),
                video_2=VideoRef(f"synthetic:test/{i}/2", fps=24.0, num_frames=96, clip=clip_2),
                labels=labels[i % len(labels)],
            )
        )
    return PairDataset(records, name="test-pairs")


@pytest.fixture
def pairs() -> PairDataset:
    return make_pairs()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the repository: the one way tests find the real files."""
    if not SHARED_DATA.is_dir():
        pytest.fail(f"the real test data is expected at {SHARED_DATA} (../shared/data beside the repository)")
    return SHARED_DATA


def _shared_dataset(shared_data: Path, name: str) -> Path:
    root = shared_data / name
    if not root.is_dir():
        pytest.fail(f"the real test data {name!r} is expected at {root}")
    return root


@pytest.fixture(scope="session")
def videogen_example(shared_data: Path) -> Path:
    """The VideoGen-Reward example: 2 labelled pairs and their 4 clips."""
    return _shared_dataset(shared_data, "videogen-reward-example")


@pytest.fixture(scope="session")
def genai_bench_root(shared_data: Path) -> Path:
    return _shared_dataset(shared_data, "genai-bench-video")


@pytest.fixture(scope="session")
def mjbench_root(shared_data: Path) -> Path:
    return _shared_dataset(shared_data, "mj-bench-video")
