"""The GPU check's CPU dry run (same code path, tiny sizes), its verdicts, and the carried wheelhouse."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_cpu_dry_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    check = load("gpu_check")
    argv = ["--device", "cpu", "--sft-steps", "2", "--group", "2", "--max-new-tokens", "8", "--eval-pairs", "2"]
    assert check.main([*argv, "--work", str(tmp_path / "work"), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    for name in ("setup", "tiny-model", "sft", "grpo", "eval-hf"):
        assert f"PASS {name}" in out, out[-3000:]
    assert "SKIP zero3" in out and "not counted as a pass" in out and "CPU dry run in float32" in out
    assert "4 passed" not in out and "5 passed, 0 failed [], 1 skipped ['zero3']" in out
    result = json.loads((tmp_path / "out" / "gpu_check-cpu.json").read_text())
    checks = {c["name"]: c for c in result["checks"]}
    grpo = checks["grpo"]["numbers"]
    assert grpo["first_clip"]["clip_ratio/region_mean"] == 0.0 and grpo["reward_std"] > 0
    assert len(grpo["step_seconds"]) == 3 and grpo["old_logps"] == "forward"
    assert len(checks["sft"]["numbers"]["losses"]) == 2 and checks["eval-hf"]["numbers"]["pairs"] == 2
    assert "| grpo | PASS |" in (tmp_path / "out" / "gpu_check-cpu.md").read_text()


def test_verdicts_fail_when_they_should() -> None:
    check = load("gpu_check")
    good = {"clip_ratio/region_mean": 0.0, "clip_ratio/low_mean": 0.0, "clip_ratio/high_mean": 0.0}
    steps = [{**good, "loss": 0.1, "reward_std": 0.4}] * 3
    assert check.clip_verdict(steps, 3)[0]
    clipped = [{**steps[0], "clip_ratio/region_mean": 0.125}, *steps[1:]]
    assert not check.clip_verdict(clipped, 3)[0]
    flat = [{**steps[0], "reward_std": 0.0}, *steps[1:]]
    ok, detail, _ = check.clip_verdict(flat, 3)
    assert not ok and "vacuous" in detail
    assert not check.clip_verdict([*steps[:2], {**steps[2], "loss": float("nan")}], 3)[0]
    assert not check.clip_verdict(steps[:2], 3)[0]


def test_a_failed_check_exits_nonzero(capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: the CUDA run would start")
    assert load("gpu_check").main(["--device", "cuda"]) == 1
    assert "FAIL setup" in capsys.readouterr().out


def test_wheelhouse_packs_and_installs_offline(tmp_path: Path) -> None:
    house = load("gpu_wheelhouse")
    wheels = tmp_path / "wheels"
    stub = house.stub_wheel(wheels, "vr_check_stub", "1.2.3", {"vr_check_stub/__init__.py": "ANSWER = 42\n"})
    with zipfile.ZipFile(stub) as archive:
        assert "vr_check_stub-1.2.3.dist-info/RECORD" in archive.namelist()
    folder = tmp_path / "house"
    folder.mkdir()
    house.pack([stub], folder / house.ARCHIVE)
    site, _ = house.install(folder)  # unpack, zip back, pip install --no-index --no-deps --target
    probe = "import vr_check_stub, importlib.metadata as m; print(vr_check_stub.ANSWER, m.version('vr_check_stub'))"
    done = subprocess.run(
        [sys.executable, "-c", probe], env={"PYTHONPATH": str(site)}, capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["42", "1.2.3"]
    with pytest.raises(FileNotFoundError, match="--build-wheelhouse"):
        house.install(tmp_path / "empty")
