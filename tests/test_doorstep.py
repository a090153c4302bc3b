"""Issue 8, the doorstep: what a new user hits ends in one line that names the fix."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from vr_env import cli
from vr_env.commands import eval_checks, make_synthetic
from vr_env.eval import plots

REPO = Path(__file__).resolve().parents[1]
NO_TORCH = "import sys; sys.modules['torch'] = None; sys.modules['stable_baselines3'] = None; "


def run_without_torch(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", NO_TORCH + code],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env={"PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"},
        check=False,
    )


@pytest.mark.parametrize(
    "argv",
    [["make-tiny-model", "--out", "{tmp}/m"], ["eval", "--agent", "hf", "--model", "{tmp}", "--out", "{tmp}/o"]],
    ids=["make-tiny-model", "eval-hf"],
)
def test_commands_needing_the_train_extra_say_so(tmp_path: Path, argv: list[str]) -> None:
    (tmp_path / "config.json").write_text("{}")
    args = [a.format(tmp=tmp_path) for a in argv]
    result = run_without_torch(f"from vr_env.cli import main; sys.exit(main({args!r}))")
    assert result.returncode == 2, result.stderr[-1500:]
    assert "Traceback" not in result.stderr
    assert "needs the train extra" in result.stderr and "pip install -e '.[train]'" in result.stderr


def test_example_03_without_the_train_extra_says_so() -> None:
    result = run_without_torch("import runpy; runpy.run_path('examples/03_sb3_ppo.py', run_name='__main__')")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "needs the train extra" in result.stderr


def eval_argv(tmp_path: Path, *extra: str) -> list[str]:
    return [
        "eval",
        "--agent",
        "answer-now",
        "--dataset-arg",
        "n=4",
        "--out",
        str(tmp_path / "o"),
        "--no-progress",
        *extra,
    ]


def test_missing_local_model_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    argv = ["eval", "--agent", "hf", "--model", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such folder" in err
    assert eval_checks.model_problem("./runs/model") == "--model ./runs/model: no such folder"
    assert "hub is offline" in str(eval_checks.model_problem("Qwen/Qwen2.5-VL-7B-Instruct"))


def test_limit_zero_is_an_error_not_an_empty_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(eval_argv(tmp_path, "--limit", "0")) == 2
    assert "--limit 0 evaluates no pair" in capsys.readouterr().err
    assert not (tmp_path / "o" / "report.md").exists()


def test_env_arg_of_the_wrong_type_names_the_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(eval_argv(tmp_path, "--env-arg", "frames_per_video=abc")) == 2
    err = capsys.readouterr().err
    assert "frames_per_video must be a whole number (int), got 'abc'" in err and "not supported" not in err


def test_output_folder_conflict_names_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(eval_argv(tmp_path, "--limit", "2", "--no-plots")) == 0
    argv = eval_argv(tmp_path, "--limit", "2", "--no-plots")
    argv[2] = "random"
    assert cli.main(argv) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert cli.main([*argv, "--overwrite"]) == 0


def test_hf_on_cpu_gets_a_cpu_sensible_default() -> None:
    pytest.importorskip("torch")
    import torch

    kwargs: dict[str, Any] = {}
    note = eval_checks.cpu_generation_note("hf", kwargs)
    if torch.cuda.is_available():
        assert note is None
    else:
        assert kwargs == {"max_new_tokens": eval_checks.CPU_MAX_NEW_TOKENS} and "max_new_tokens=N" in str(note)
    explicit = {"max_new_tokens": 2048}
    assert eval_checks.cpu_generation_note("hf", explicit) is None and explicit == {"max_new_tokens": 2048}


def test_make_synthetic_shows_progress(tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse

    monkeypatch.setattr(make_synthetic, "PROGRESS_EVERY", 0.0)
    parser = argparse.ArgumentParser()
    make_synthetic.add_arguments(parser)
    assert make_synthetic.run(parser.parse_args(["--out", str(tmp_path), "--n", "3", "--size", "32"])) == 0
    err = capsys.readouterr().err
    assert "writing 3 pairs" in err and "2/3 pairs written" in err


def test_plots_without_oa_labels_or_with_one_bar_are_not_drawn(tmp_path: Path) -> None:
    metrics = {
        "agent": "a",
        "tau": None,
        "diff": None,
        "per_dimension": {"TA": 0.5, "VQ": None, "MQ": 1.0},
        "by_tool_calls": {"0": {"n": 3, "tau": None}},
        "by_length": {"buckets": [{"label": "all", "n": 3, "tau": None, "diff": None}]},
    }
    assert plots.per_dimension_groups(metrics) == ["TA", "MQ"]
    written = {p.name for p in plots.write_plots(metrics, tmp_path)}
    assert written == {plots.PER_DIMENSION_PNG}
    empty = {"agent": "a", "tau": None, "diff": None, "per_dimension": {}}
    assert plots.write_plots(empty, tmp_path / "x") == []
    assert json.dumps(metrics)  # the metrics stay plain data


def test_turn_progress_prints_at_most_every_interval_and_chains() -> None:
    import io

    seen: list[int] = []
    stream = io.StringIO()
    progress = eval_checks.TurnProgress(every=0.0, then=seen.append, stream=stream)
    for turn in range(3):
        progress(turn)
    assert seen == [0, 1, 2] and stream.getvalue().count("turns played") == 3
    quiet = eval_checks.TurnProgress(every=3600.0, stream=stream)
    quiet(0)
    assert quiet.turns == 1 and stream.getvalue().count("turns played") == 3
