"""Every example runs as a user would run it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run_example(name: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_first_episode(tmp_path: Path) -> None:
    out = run_example("01_first_episode.py", "--out", str(tmp_path / "episode.png"))
    assert "reward components" in out and (tmp_path / "episode.png").stat().st_size > 1000


def test_your_own_agent() -> None:
    assert "accuracy over 10 pairs" in run_example("02_your_own_agent.py", "--pairs", "10")


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.py")))
def test_every_example_has_usage_docs(name: str) -> None:
    text = (EXAMPLES / name).read_text()
    assert text.startswith('"""') and "python examples/" in text


def test_tiny_vlm_rollouts() -> None:
    out = run_example("04_tiny_vlm_rollouts.py", "--pairs", "1", "--group", "2", "--max-new-tokens", "8")
    assert "2 episodes" in out and "advantage" in out
