"""Real 2-process GRPO runs on CPU (torchrun, gloo).

``test_two_processes_over_gloo``: a group of G = 2 spans the two ranks. Each rank plays one trajectory
of the group; their rewards are gathered before the exploration term and the advantages, so the step
has a non-zero gradient (a rank scoring its lone trajectory alone would get advantage 0 and, with the
policy equal to the reference at step 1, no gradient at all). Row counts differ by rank (1 or 2 turns)
and are padded to the same count with zero-weight rows.

``test_synced_generation_with_uneven_turns``: transformers believes it runs under ZeRO-3 (so its
``generate`` turns ``synced_gpus`` on, a collective per decoding step) and the ranks make different
numbers of generation calls (turn counts, refills, held-out pairs): both modes must finish in time,
and the logged row figures (``rows/real``, ``completions/mean_length``) are every rank's.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[4]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run(command: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    """Run a torchrun launch; on a timeout (a hang) kill the launcher and its workers and fail."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    env["OMP_NUM_THREADS"] = "1"
    launch = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        str(_free_port()),
    ]
    process = subprocess.Popen(
        [*launch, *command], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # the launcher and both workers
        process.communicate()
        raise AssertionError(f"the 2-process run did not finish within {timeout} s (a collective hang?)") from None
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def test_synced_generation_with_uneven_turns(tiny_model_dir: Path, tmp_path: Path) -> None:
    """'auto' (gathered parameters: synced_gpus passed off) and 'on' (lockstep calls) both finish."""
    worker = str(Path(__file__).with_name("synced_worker.py"))
    result = _run([worker, str(tiny_model_dir), str(tmp_path), "auto,on"], timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    runs = {(m, r): json.loads((tmp_path / f"{m}-rank{r}.json").read_text()) for m in ("auto", "on") for r in (0, 1)}
    for (mode, _), run in runs.items():
        assert run["steps"] == 1 and run["eval_steps"] == [0, 1]
        assert set(run["synced"]) == {mode == "on"}, "synced_gpus is passed explicitly, never left to transformers"
    auto0, auto1 = runs["auto", 0], runs["auto", 1]
    assert len(auto0["synced"]) < len(auto1["synced"]), "the ranks' call counts really differ"
    on0, on1 = runs["on", 0], runs["on", 1]
    assert len(on0["synced"]) == len(on1["synced"]), "lockstep: the same number of generate calls on every rank"
    assert on0["dummy_calls"] > 0, "rank 0 (fewer turns) answered rank 1's calls with dummy ones"
    assert len(on0["synced"]) - on0["dummy_calls"] == len(auto0["synced"]), "real calls as without lockstep"
    # Row figures are summed over the ranks: rank 0 holds 2 one-turn episodes, rank 1 two three-turn ones.
    for run in runs.values():
        assert run["rows_real"] == [8.0] and run["mean_length"] == runs["auto", 0]["mean_length"]


def test_two_processes_over_gloo(tiny_model_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "ddp"
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    env["OMP_NUM_THREADS"] = "1"
    env_kwargs = json.dumps({"frames_per_video": 16, "max_tool_calls": 1, "memory_window": 1})
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(_free_port()),
        "-m", "vr_env.cli", "train", "grpo", "--model", str(tiny_model_dir), "--out", str(out),
        "--max-steps", "2", "--env-kwargs", env_kwargs, "--num-generations", "2",
        "--per-device-train-batch-size", "1", "--max-completion-length", "8", "--learning-rate", "1e-2",
        "--demo-script-share", "1.0", "--logging-steps", "1", "--save-steps", "1", "--seed", "3",
    ]  # fmt: skip
    process = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        stdout, stderr = process.communicate(timeout=420)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # the launcher and both workers
        process.communicate()
        raise
    assert process.returncode == 0, stderr[-3000:]
    assert "terminate called" not in stderr  # the process group is destroyed before exit
    summary = json.loads(stdout[stdout.index("{\n") :])
    assert summary["steps"] == 2
    history = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    steps = [row for row in history if "reward" in row]
    assert [row["step"] for row in steps] == [1, 2]
    assert steps[0]["grad_norm"] > 0, "the group spanning the ranks must be scored after the gather"
    assert all(row["frac_reward_zero_std"] == 0.0 or row["reward_std"] == 0.0 for row in steps)
    assert (out / "checkpoint-2" / "trainer_state.json").is_file() and (out / "model.safetensors").is_file()
