"""A real 2-process GRPO run on CPU (torchrun, gloo): a group of G = 2 spans the two ranks.

Each rank plays one trajectory of the group; their rewards are gathered before the exploration term
and the advantages, so the step has a non-zero gradient (a rank scoring its lone trajectory alone
would get advantage 0 and, with the policy equal to the reference at step 1, no gradient at all).
Row counts differ by rank (1 or 2 turns) and are padded to the same count with zero-weight rows.
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
    summary = json.loads(stdout[stdout.index("{\n") :])
    assert summary["steps"] == 2
    history = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    steps = [row for row in history if "reward" in row]
    assert [row["step"] for row in steps] == [1, 2]
    assert steps[0]["grad_norm"] > 0, "the group spanning the ranks must be scored after the gather"
    assert all(row["frac_reward_zero_std"] == 0.0 or row["reward_std"] == 0.0 for row in steps)
    assert (out / "checkpoint-2" / "trainer_state.json").is_file() and (out / "model.safetensors").is_file()
