"""Every example runs as a user would run it, in its quick mode, and prints something checked.

Each script under ``examples/`` must accept ``--quick`` (tiny sizes) and have a check below that
reads its output; a new example without one fails ``test_every_example_is_checked``.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def run_example(name: str, *args: str, timeout: float = 120) -> str:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name), "--quick", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=env,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def numbers_after(label: str, text: str) -> list[float]:
    """The numbers on the first output line that contains ``label``, after it."""
    for line in text.splitlines():
        if label in line:
            return [float(x) for x in re.findall(r"-?\d+(?:\.\d+)?", line.split(label, 1)[1])]
    raise AssertionError(f"no line with {label!r} in the output:\n{text[-1500:]}")


def check_first_episode(tmp_path: Path) -> None:
    out = run_example("01_first_episode.py", "--out", str(tmp_path / "episode.png"))
    assert "terminated: True" in out
    # A well-formed two-turn episode earns the full format reward.
    assert re.search(r"'format': 1\.0\b", out), out[-800:]
    assert "'select_frames'" not in out or "reward" in out
    assert (tmp_path / "episode.png").stat().st_size > 1000


def check_your_own_agent(tmp_path: Path) -> None:
    out = run_example("02_your_own_agent.py")
    assert "accuracy over 8 pairs" in out
    oa, vq = (float(v) for v in re.findall(r"'(?:OA|VQ)': '([0-9.]+)'", out))
    assert 0.0 <= oa <= 1.0 and 0.0 <= vq <= 1.0
    # Accuracies over 8 pairs are multiples of 1/8.
    assert abs(oa * 8 - round(oa * 8)) < 0.07 and abs(vq * 8 - round(vq * 8)) < 0.07


def check_sb3_ppo(tmp_path: Path) -> None:
    out = run_example("03_sb3_ppo.py")
    assert "MultiDiscrete([2 3 3 3 3])" in out  # the noise toy: answer now or fetch its one segment
    for row in ("random actions", "PPO before", "PPO after"):
        vq, oa, ret = numbers_after(row + ":", out)
        assert 0.0 <= vq <= 1.0 and 0.0 <= oa <= 1.0 and 1.0 <= ret <= 2.0  # the wrapper never breaks the format


def check_tiny_vlm_rollouts(tmp_path: Path) -> None:
    out = run_example("04_tiny_vlm_rollouts.py")
    assert re.search(r"^2 episodes, \d+ generation calls", out, re.M), out[-800:]
    lines = [line for line in out.splitlines() if line.startswith("group ")]
    assert len(lines) == 2  # 1 pair x G = 2
    advantages = [float(line.rsplit("advantage", 1)[1]) for line in lines]
    assert abs(sum(advantages)) < 1e-6  # group-normalized


def check_mini_vrthinker(tmp_path: Path) -> None:
    out = run_example("05_mini_vrthinker.py", "--out", str(tmp_path / "mini"), "--threads", "1", timeout=300)
    result = json.loads((tmp_path / "mini" / "mini_vrthinker.json").read_text())
    assert list(result["arms"]) == ["tool", "no tool"]
    for arm, stages in result["arms"].items():
        assert list(stages) == ["base", "cold start", "RFT", "GRPO"]
        for stage in stages.values():
            assert stage["episodes"] == result["eval_pairs"]
            for key in ("tau", "diff"):
                interval = stage[f"{key}_ci"]
                assert interval is None or 0.0 <= interval[0] <= (stage[key] or 0.0) <= interval[1] <= 1.0
            rates = [stage["tau"], stage["format_valid_turn_rate"], *stage["per_dimension"].values()]
            assert all(0.0 <= r <= 1.0 for r in rates)
            assert stage["tool_calls_per_episode"] <= (1 if arm == "tool" else 0)  # the env's budget holds
        assert stages["cold start"]["training"]["traces_kept"] > 0
        assert math.isfinite(stages["cold start"]["training"]["loss_last"])
        assert stages["GRPO"]["training"]["steps"] == 1 and len(stages["GRPO"]["training"]["rewards"]) == 1
    assert len([line for line in out.splitlines() if line.startswith(("| tool |", "| no tool |"))]) == 8
    assert (tmp_path / "mini" / "mini_vrthinker.png").stat().st_size > 5000


CHECKS: dict[str, Callable[[Path], None]] = {
    "01_first_episode.py": check_first_episode,
    "02_your_own_agent.py": check_your_own_agent,
    "03_sb3_ppo.py": check_sb3_ppo,
    "04_tiny_vlm_rollouts.py": check_tiny_vlm_rollouts,
    "05_mini_vrthinker.py": check_mini_vrthinker,
}


def test_every_example_is_checked() -> None:
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted(CHECKS)


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_example_quick_mode(name: str, tmp_path: Path) -> None:
    CHECKS[name](tmp_path)


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.py")))
def test_every_example_has_usage_docs_and_a_quick_mode(name: str) -> None:
    text = (EXAMPLES / name).read_text()
    assert text.startswith('"""') and "python examples/" in text
    assert "--quick" in text and "VR_ENV_QUICK" in text
