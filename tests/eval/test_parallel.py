"""Data-parallel evaluation: a real 2-process torchrun (gloo) run against one process, and launch detection."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from vr_env import cli
from vr_env.eval.parallel import Launch, detect_launch

REPO = Path(__file__).resolve().parents[2]
#: The scanner on 24 synthetic pairs with thin defects (so accuracies are neither 0 nor 1), each also swapped.
EVAL = [
    "eval", "--agent", "scanner", "--dataset-arg", "n=24", "--dataset-arg", "defect_extent=0.05",
    "--env-arg", "frames_per_video=16", "--swap-check", "--seed", "2", "--no-progress", "--no-plots",
]  # fmt: skip
LAUNCH_VARIABLES = ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def timeless(path: Path) -> list[dict[str, Any]]:
    return [{k: v for k, v in json.loads(line).items() if k != "seconds"} for line in lines(path)]


def test_two_processes_write_what_one_process_writes(tmp_path: Path) -> None:
    one, dp = tmp_path / "one", tmp_path / "dp"
    assert cli.main([*EVAL, "--out", str(one)]) == 0
    # An earlier, shorter run of shard 1 (as if the launch had been killed): the launch resumes it.
    assert cli.main([*EVAL, "--limit", "8", "--shard", "1/2", "--out", str(dp)]) == 0
    shard_1 = dp / "shards" / "1-of-2" / "results.jsonl"
    before = lines(shard_1)
    assert len(before) == 8

    stdout = launch(["-m", "vr_env.cli", *EVAL, "--out", str(dp)])
    assert stdout.count("scanner on synthetic: n=24") == 1 and "merged from 2 shards" in stdout  # rank 0 only

    metrics = json.loads((dp / "metrics.json").read_text())
    assert metrics == json.loads((one / "metrics.json").read_text())  # no timing field in metrics.json
    assert 0 < metrics["tau"] < 1 and metrics["n"] == 24 and metrics["swap_pairs"] == 24
    assert (dp / "report.md").read_text() == (one / "report.md").read_text()
    assert timeless(dp / "results.jsonl") == timeless(one / "results.jsonl")  # same rows in the same order
    after = lines(shard_1)
    assert len(after) == 24 and after[:8] == before  # shard 1 resumed: its 8 earlier episodes were not replayed
    assert len(lines(dp / "shards" / "0-of-2" / "results.jsonl")) == 24


#: The Python API under a launcher that set up torch.distributed itself (as accelerate does): the run
#: gathers over a gloo group of its own beside the default one.
API_SCRIPT = """
import json, pathlib, sys
import torch.distributed as dist
from vr_env.eval import evaluate
dist.init_process_group("gloo")
metrics = evaluate("random", {"dataset_kwargs": {"n": 7}, "frames_per_video": 16}, swap_check=True, seed=4,
                   out_dir=sys.argv[1], progress=False, plots=False, data_parallel=True)
pathlib.Path(sys.argv[2], f"metrics-{dist.get_rank()}.json").write_text(json.dumps(metrics, sort_keys=True))
dist.barrier()
dist.destroy_process_group()
"""


def launch(arguments: list[str], timeout: float = 300) -> str:
    """``torchrun --nproc_per_node 2 ARGUMENTS`` with a timeout; its stdout."""
    env = {k: v for k, v in os.environ.items() if k not in LAUNCH_VARIABLES}
    env.update(PYTHONPATH=str(REPO), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", OMP_NUM_THREADS="1")
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(_free_port()),
        *arguments,
    ]  # fmt: skip
    process = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # the launcher and both workers
        process.communicate()
        raise
    assert process.returncode == 0, stderr[-3000:]
    return stdout


def test_python_api_inside_an_initialised_process_group(tmp_path: Path) -> None:
    from vr_env.eval import evaluate

    script = tmp_path / "api.py"
    script.write_text(API_SCRIPT)
    stdout = launch([str(script), str(tmp_path / "dp"), str(tmp_path)])
    # each rank writes its own file (two ranks' long lines on one stdout pipe can interleave)
    written = sorted(p.name for p in tmp_path.glob("metrics-*.json"))
    assert written == ["metrics-0.json", "metrics-1.json"], f"{written}; stdout ends: {stdout[-2000:]!r}"
    printed = {rank: json.loads((tmp_path / f"metrics-{rank}.json").read_text()) for rank in (0, 1)}
    single = evaluate("random", {"dataset_kwargs": {"n": 7}, "frames_per_video": 16}, swap_check=True, seed=4,
                      progress=False)  # fmt: skip
    assert printed[0] == printed[1] == json.loads(json.dumps(single, sort_keys=True))  # every rank: the whole run
    assert json.loads((tmp_path / "dp" / "metrics.json").read_text())["n"] == 7
    assert sorted(p.name for p in (tmp_path / "dp" / "shards").iterdir()) == ["0-of-2", "1-of-2"]


def test_detect_launch(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in LAUNCH_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert detect_launch() is None
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert detect_launch() is None
    monkeypatch.setenv("WORLD_SIZE", "4")
    with pytest.raises(ValueError, match="RANK is not set"):
        detect_launch()
    monkeypatch.setenv("RANK", "5")
    with pytest.raises(ValueError, match=r"outside 0\.\.3"):
        detect_launch()
    monkeypatch.setenv("RANK", "3")
    assert detect_launch() == Launch(rank=3, world_size=4, local_rank=3)
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert detect_launch() == Launch(rank=3, world_size=4, local_rank=1)


def test_launch_without_a_rendezvous_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in LAUNCH_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    assert cli.main([*EVAL, "--limit", "2", "--out", str(tmp_path)]) == 2
    assert "MASTER_ADDR and MASTER_PORT not: launch with torchrun" in capsys.readouterr().err
    assert cli.main([*EVAL, "--limit", "2", "--shard", "0/2", "--out", str(tmp_path)]) == 2
    assert "drop --shard" in capsys.readouterr().err


def test_each_rank_loads_its_model_on_its_own_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from vr_env.commands.evaluate import local_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    kwargs: dict[str, Any] = {}
    local_device(kwargs, 5)
    assert kwargs == {"device": "cuda:1"}
    chosen = {"device": "cpu"}
    local_device(chosen, 2)
    assert chosen == {"device": "cpu"}  # an explicit --agent-arg device=... wins
