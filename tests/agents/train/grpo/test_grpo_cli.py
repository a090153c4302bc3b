"""``vr-env train grpo`` end to end on CPU with a tiny model: parameters change, every component is
logged, the held-out evaluation runs at steps 0, 1 and 2, a reward curve is written; a run killed
with SIGKILL resumes with the same metrics (and does not evaluate a step twice)."""

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
    "--save-steps", "1", "--max-refill-rounds", "1", "--seed", "3", "--eval-every", "1", "--eval-pairs", "2",
    "--best-metric", "eval/return",
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


def _metrics(out: Path, key: str = "reward") -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [r for r in rows if key in r]


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
    summary = json.loads(printed[printed.rfind("\n{\n") + 1 :])  # the last top-level object printed
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
    assert {str(t.dtype) for t in after.values()} == {"torch.float32"}  # a float32 run saves float32 weights
    returns = [r["eval/return"] for r in _metrics(out, "eval/return")]
    best = summary["best"]
    assert best["metric"] == "eval/return" and best["value"] == max(returns)
    assert best["step"] == returns.index(max(returns))  # evaluated at steps 0, 1, 2: the first best one
    kept = json.loads((out / "best" / "best.json").read_text())
    assert kept["step"] == best["step"] and (out / "best" / "model.safetensors").is_file()


def test_held_out_evaluation_rows(whole: tuple[Path, str]) -> None:
    """Greedy episodes of the (random, unscripted) policy on the 2 held-out pairs at steps 0, 1, 2."""
    evals = _metrics(whole[0], "eval/tau")
    assert [r["step"] for r in evals] == [0, 1, 2]
    for row in evals:
        assert 0.0 <= row["eval/tau"] <= 1.0
        assert row["eval/diff"] is None or 0.0 <= row["eval/diff"] <= 1.0  # None: no non-tie OA label
        assert row["eval/episodes"] == 2.0 and "eval/format_valid_turn_rate" in row and "eval/return" in row
        assert "reward" not in row and "loss" not in row  # a row of its own: training rows keep their figures
    for row in _metrics(whole[0]):
        assert "refilled/reward" in row and "refilled/rewards/accuracy/mean" in row


def test_eval_flags_reach_the_config(tmp_path: Path) -> None:
    import argparse

    from agents.train.grpo.config import WindowedGRPOConfig
    from vr_env.commands.train_grpo import add_arguments, config_values

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    flags = ["--eval-every", "3", "--eval-pairs", "16", "--eval-max-new-tokens", "64"]
    args = parser.parse_args(["--model", "tiny", "--out", str(tmp_path), *flags])
    values = config_values(args)
    assert (values["eval_every"], values["eval_pairs"], values["eval_max_new_tokens"]) == (3, 16, 64)
    config = WindowedGRPOConfig(**values, use_cpu=True, report_to=[])
    assert (config.eval_every, config.eval_pairs, config.eval_max_new_tokens) == (3, 16, 64)
    defaults = config_values(parser.parse_args(["--model", "tiny", "--out", str(tmp_path)]))
    assert "eval_every" not in defaults  # unset flags leave the config's defaults: evaluation off
    assert WindowedGRPOConfig(output_dir=str(tmp_path), use_cpu=True, report_to=[]).eval_every == 0


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
    # Step 1's evaluation comes back with the checkpoint's log and is not repeated on resuming.
    evaluated, reference_evals = _metrics(killed, "eval/tau"), _metrics(whole[0], "eval/tau")
    assert [r["step"] for r in evaluated] == [0, 1, 2]
    for row, expected in zip(evaluated, reference_evals, strict=True):
        for name in ("eval/tau", "eval/format_valid_turn_rate", "eval/return", "eval/tool_calls_per_episode"):
            assert row[name] == pytest.approx(expected[name], rel=1e-5, abs=1e-7), (row["step"], name)


#: Free sampling (half the episodes; the other half scripted protocol turns, so groups' rewards differ),
#: four steps, one generation per two optimizer steps.
SCHEDULE = [
    "--dataset", "synthetic", "--env-kwargs", ENV, "--num-generations", "2", "--per-device-train-batch-size", "2",
    "--max-completion-length", "6", "--learning-rate", "1e-2", "--demo-script-share", "0.5", "--logging-steps", "1",
    "--max-refill-rounds", "0", "--seed", "5", "--max-steps", "4", "--steps-per-generation", "2",
    "--gradient-accumulation-steps", "1", "--save-steps", "2",
]  # fmt: skip


def _kill_after(command: list[str], checkpoint: Path, limit: float = 240) -> None:
    """Run ``vr-env`` ``command`` in a subprocess and SIGKILL it once ``checkpoint`` is complete."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    env["OMP_NUM_THREADS"] = "1"
    process = subprocess.Popen(
        [sys.executable, "-m", "vr_env.cli", *command], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + limit
        while not (checkpoint / "trainer_state.json").is_file():
            assert process.poll() is None, "the run ended before the checkpoint"
            assert time.monotonic() < deadline, f"no checkpoint within {limit} s"
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL


def test_a_killed_run_with_a_generation_cycle_resumes_to_the_same_weights_and_optimizer(
    base: Path, tmp_path: Path
) -> None:
    """steps_per_generation = 2 x gradient accumulation: checkpoints on cycle boundaries resume exactly.

    Free sampling, 4 steps, killed after checkpoint-2 (the start of the second generation cycle); the
    resumed run's final weights and optimizer state equal an uninterrupted run's. A save_steps inside
    the cycle is refused (``test_grpo_config``).
    """
    import torch
    from safetensors.torch import load_file

    command = ["train", "grpo", "--model", str(base), *SCHEDULE]
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    assert main([*command, "--out", str(whole)]) == 0
    _kill_after([*command, "--out", str(killed)], killed / "checkpoint-2")
    assert not (killed / "checkpoint-4").exists()
    assert main([*command, "--out", str(killed), "--resume"]) == 0
    sampled = [r["completions/mean_length"] for r in _metrics(whole)]
    assert len(sampled) == 2 and all(t > 0 for t in sampled)  # two generations (steps 1 and 3)
    expected, got = load_file(str(whole / "model.safetensors")), load_file(str(killed / "model.safetensors"))
    assert set(expected) == set(got)
    for name, value in expected.items():
        torch.testing.assert_close(got[name], value, rtol=0, atol=1e-6, msg=name)
    assert any(r["grad_norm"] > 0 for r in _metrics(whole, "loss")), "the steps learned"
    states = [torch.load(out / "checkpoint-4" / "optimizer.pt", weights_only=True) for out in (whole, killed)]
    assert states[0]["state"].keys() == states[1]["state"].keys() and states[0]["state"]
    for key, state in states[0]["state"].items():
        for name, value in state.items():
            torch.testing.assert_close(states[1]["state"][key][name], value, rtol=0, atol=1e-6, msg=f"{key}.{name}")
    resumed = {r["step"]: r for r in _metrics(killed, "loss")}
    assert sorted(resumed) == [1, 2, 3, 4]
    for row in _metrics(whole, "loss"):
        assert resumed[row["step"]]["loss"] == pytest.approx(row["loss"], rel=1e-5, abs=1e-7), row["step"]
