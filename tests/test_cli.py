"""The ``vr-env`` entry point: every command is wired, and ``demo`` runs the main job."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from vr_env import cli


def test_every_command_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    for name in cli.COMMANDS:
        with pytest.raises(SystemExit) as exit_info:
            cli.main([name, "--help"])
        assert exit_info.value.code == 0
        assert "usage: vr-env " + name in capsys.readouterr().out


def test_demo_runs_the_builtin_agents(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["demo", "--pairs", "12", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| scanner |" in out and "| answer-now |" in out and "| random |" in out
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert set(summary["metrics"]) == {"random", "answer-now", "scanner"}
    assert summary["metrics"]["scanner"]["tau"] > summary["metrics"]["answer-now"]["tau"]
    assert (tmp_path / "episode.png").stat().st_size > 1000
    assert (tmp_path / "scanner" / "metrics.json").exists()


def test_demo_rejects_bad_arguments() -> None:
    with pytest.raises(SystemExit):
        cli.main(["demo", "--pairs", "0"])


def test_console_script_without_torch_import() -> None:
    """`vr-env demo` must work in the light install: the CLI and demo path never import torch."""
    code = (
        "import sys; from vr_env import cli; cli.build_parser(); "
        "import vr_env.commands.demo, vr_env.eval, vr_env.agent_registry, agents.baselines, vr_env.env; "
        "print('torch' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
