"""The perception probe and the GRPO-learning benchmark run end to end with tiny budgets."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_perception_probe_tiny(tmp_path: Path) -> None:
    load("perception_probe").main(
        ["--steps", "2", "--frames", "32", "--test-frames", "16", "--threads", "1", "--out", str(tmp_path)]
    )
    result = json.loads((tmp_path / "perception_probe.json").read_text())
    assert list(result["inits"]) == ["hf-default", "width-scaled"]
    default, scaled = (result["inits"][k]["preactivation_std"]["tower MLP gate"] for k in result["inits"])
    assert default < 0.2 < 0.5 < scaled, "the 0.02 init keeps the tower's nonlinearities in their linear range"
    assert result["processor"]["patch_std_noisy"] > 2 * result["processor"]["patch_std_clean"]
    for block in result["inits"].values():
        assert set(block["linear_probes_at_init"]) >= {"patch embedding", "merger output"}
        assert [g["step"] for g in block["end_to_end"]["grad_norms"]] == [1, 2]
    assert "| hf-default |" in (tmp_path / "perception_probe.md").read_text()


def test_grpo_learning_tiny(tmp_path: Path) -> None:
    flags = "--start-pairs 2 --start-epochs 1 --steps 1 --eval-every 1 --eval-pairs 2 --group 2 --groups-per-step 1 "
    flags += "--max-new-tokens 16 --threads 1 --start-answer-now 3 --tag mixed --shuffled-control"
    load("grpo_learning").main([*flags.split(), "--work", str(tmp_path / "work"), "--out", str(tmp_path / "out")])
    result = json.loads((tmp_path / "out" / "grpo_learning-mixed.json").read_text())
    assert "answer-now traces of the next 3 pairs" in result["start"] and "--tag mixed" in result["command"]
    traces = [json.loads(line) for line in (tmp_path / "work" / "traces" / "traces.jsonl").read_text().splitlines()]
    assert {t["meta"]["teacher"] for t in traces if t["pair_index"] < 2} == {"scanner"}
    later = [t["meta"]["teacher"] for t in traces if t["pair_index"] >= 2]
    assert later and set(later) == {"answer-now"}
    assert list(result["runs"]) == ["lr 6e-05", "lr 0 (control)", "shuffled advantages (control)"]
    assert [r["shuffle_advantages"] for r in result["runs"].values()] == [False, False, True]
    for run in result["runs"].values():
        assert [step for step, _ in run["curves"]["eval/tau"]] == [0, 1]
        assert len(run["curves"]["reward"]) == 1
    control = result["runs"]["lr 0 (control)"]["curves"]["eval/tau"]
    assert control[0][1] == control[1][1], "lr = 0 changes nothing"
    assert (tmp_path / "out" / "grpo_learning-mixed.png").stat().st_size > 5000
    assert (
        "--freeze-vision" in result["command"]
        and "lr 0 (control)" in (tmp_path / "out" / "grpo_learning-mixed.md").read_text()
    )
    report = (tmp_path / "out" / "grpo_learning-mixed.md").read_text()
    assert report.startswith("# GRPO alone against an lr = 0 control and a shuffled-advantages control")
    assert "Environment: the tool arm." in report and "--shuffled-control" in result["command"]
