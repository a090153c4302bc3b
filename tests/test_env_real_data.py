"""The environment and the eval harness on real text-to-video clips (../shared/data)."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import pytest

from vr_env import cli
from vr_env.agent_registry import make_agent
from vr_env.config import PATCH_PIXELS


@pytest.fixture
def example_root(shared_data: Path) -> Path:
    return shared_data / "videogen-reward-example"


def test_scanner_episode_end_to_end_on_real_clips(example_root: Path) -> None:
    env = gym.make("vr_env:VRJudge-v0", dataset="videogen-reward", data_root=str(example_root))
    agent = make_agent("scanner", seed=0)
    agent.reset()
    obs, info = env.reset(seed=0, options={"pair_index": 0})
    assert env.observation_space.contains(obs)
    sizes = {f.image.shape for f in info["context"].visible_frames()}
    for h, w, _ in sizes:  # Qwen-VL resize: sides multiples of 28, within the initial budget
        assert h % 28 == 0 and w % 28 == 0 and h * w <= 512 * PATCH_PIXELS
    terminated = truncated = False
    while not (terminated or truncated):
        obs, reward, terminated, truncated, info = env.step(agent.act(obs, info))
        assert info["invalid_reason"] is None and info["env_error"] is None
    assert terminated and info["tool_calls"] == 3
    # The training CSV labels TA/VQ/MQ only (pair 0: VQ=B, MQ=B, TA=A); accuracy uses those.
    assert info["labels"] == {"TA": 1, "VQ": 2, "MQ": 2, "OA": None}
    assert 0.0 <= info["reward_components"]["accuracy"] <= 1.0
    for turn in info["context"].turns:
        if turn.tool_round is not None and not turn.evicted:
            assert all(f.image.shape[0] * f.image.shape[1] <= 400 * PATCH_PIXELS for f in turn.frames)


def test_eval_cli_on_real_clips(example_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["eval", "--agent", "scanner", "--dataset", "videogen-reward", "--data-root", str(example_root)]
    assert cli.main([*argv, "--out", str(tmp_path), "--no-progress", "--swap-check"]) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["n"] == 2 and metrics["skipped"] == 0
    assert set(metrics["per_dimension"]) == {"TA", "VQ", "MQ"}
    rows = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and all(r["status"] == "ok" for r in rows)
    capsys.readouterr()
