"""``vr-env train grpo`` end to end on CPU with a tiny model: parameters change, every component is
logged, a reward curve is written; a run killed with SIGKILL resumes with the same metrics."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from vr_env.cli import main

REPO = Path(__file__).resolve().parents[4]
ENV = json.dumps({"frames_per_video": 16, "max_tool_calls": 1, "memory_window": 1})
FLAGS = [
    "--dataset", "synthetic", "--env-kwargs", ENV, "--num-generations", "2", "--per-device-train-batch-size", "2",
    "--max-completion-length", "8", "--learning-rate", "1e-2", "--demo-script-share", "1.0", "--logging-steps", "1",
    "--save-steps", "1", "--max-refill-rounds", "1", "--seed", "3",
]  # fmt: skip
COMPONENTS = (
    "reward",
    "rewards/format/mean",
    "rewards/accuracy/mean",
    "rewards/cot_gain/mean",
    "rewards/exploration/mean",
    "format_rate",
    "trajectory/tool_calls/mean",
    "trajectory/frames_fetched/mean",
    "trajectory/rows/mean",
    "dynamic_sampling/dropped_share",
    "kl",
    "loss",
)


def _metrics(out: Path) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [r for r in rows if "reward" in r]


@pytest.fixture(scope="module")
def base(tiny_model_dir: Path) -> Path:
    import torch

    torch.set_num_threads(1)  # two cores shared with other jobs: more threads only spin
    return tiny_model_dir


@pytest.fixture(scope="module")
def whole(base: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """An uninterrupted two-step run (also the reference of the resume test)."""
    import contextlib
    import io

    out = tmp_path_factory.mktemp("grpo") / "whole"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["train", "grpo", "--model", str(base), "--out", str(out), "--max-steps", "2", *FLAGS]) == 0
    return out, printed.getvalue()


def test_train_grpo_end_to_end(base: Path, whole: tuple[Path, str]) -> None:
    from safetensors.torch import load_file

    out, printed = whole
    summary = json.loads(printed[printed.rindex("{\n") :])
    assert summary["steps"] == 2 and summary["resumed_from"] is None
    before, after = load_file(str(base / "model.safetensors")), load_file(str(out / "model.safetensors"))
    assert any(not (before[k] == after[k]).all() for k in before), "GRPO steps must change the parameters"
    history = _metrics(out)
    assert [r["step"] for r in history] == [1, 2]
    for name in COMPONENTS:
        assert all(name in r for r in history), name
    assert (out / "reward_curve.png").stat().st_size > 1000
    config = json.loads((out / "grpo_config.json").read_text())
    assert config["loss_type"] == "dapo" and config["epsilon_high"] == 0.35 and config["beta"] == 0.01


def test_a_bad_config_is_a_clear_error(base: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["train", "grpo", "--model", str(base), "--out", str(tmp_path), "--loss-type", "grpo"])
    assert code == 2 and "loss_type='grpo'" in capsys.readouterr().err
    code = main(["train", "grpo", "--model", str(tmp_path / "nothing"), "--out", str(tmp_path)])
    assert code == 2 and "no model checkpoint" in capsys.readouterr().err
    code = main(["train", "grpo", "--model", str(base), "--out", str(tmp_path), "--env-kwargs", "{oops"])
    assert code == 2 and "not valid JSON" in capsys.readouterr().err


def test_a_run_killed_with_sigkill_resumes_with_the_same_metrics(
    base: Path, whole: tuple[Path, str], tmp_path: Path
) -> None:
    args = ["train", "grpo", "--model", str(base), "--max-steps", "2", *FLAGS]
    killed = tmp_path / "killed"
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "vr_env.cli", *args, "--out", str(killed)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while not (killed / "checkpoint-1" / "trainer_state.json").is_file():
            assert process.poll() is None, "the run ended before its first checkpoint"
            assert time.monotonic() < deadline, "no checkpoint within 120 s"
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    assert not (killed / "metrics.jsonl").exists() and not (killed / "checkpoint-2").exists()
    assert main([*args, "--out", str(killed), "--resume"]) == 0
    resumed, reference = _metrics(killed), _metrics(whole[0])
    assert [r["step"] for r in resumed] == [1, 2]  # the log history of step 1 comes back with the checkpoint
    by_step = {r["step"]: r for r in reference}
    for row in resumed:
        for name in ("reward", "rewards/accuracy/mean", "trajectory/tool_calls/mean", "loss", "kl"):
            assert row[name] == pytest.approx(by_step[row["step"]][name], rel=1e-5, abs=1e-7), (row["step"], name)
