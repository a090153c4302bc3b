"""A foreign top-level ``agents`` package (e.g. the OpenAI Agents SDK) is detected at import with one line."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _import_agents(pythonpath: list[Path], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "VR_ENV_ALLOW_FOREIGN_AGENTS"}
    environment.update(PYTHONPATH=os.pathsep.join(str(p) for p in pythonpath), **env)
    code = "import agents, sys; sys.stdout.write(agents.__file__)"
    return subprocess.run(
        [sys.executable, "-S", "-c", code], cwd=cwd, env=environment, capture_output=True, text=True, timeout=60
    )


def test_a_foreign_agents_package_on_the_path_fails_the_import_with_one_line(tmp_path: Path) -> None:
    foreign = tmp_path / "sdk"
    (foreign / "agents").mkdir(parents=True)
    (foreign / "agents" / "__init__.py").write_text("class Agent: ...\n")
    run = _import_agents([REPO, foreign], cwd=tmp_path)
    assert run.returncode != 0
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: import name clash") and str(foreign / "agents") in last
    assert "separate virtual environments" in last
    allowed = _import_agents([REPO, foreign], cwd=tmp_path, VR_ENV_ALLOW_FOREIGN_AGENTS="1")
    assert allowed.returncode == 0 and allowed.stdout == str(REPO / "agents" / "__init__.py")
    alone = _import_agents([REPO], cwd=tmp_path)
    assert alone.returncode == 0, alone.stderr


def test_a_foreign_distribution_installed_beside_is_named(tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "agents").mkdir(parents=True)
    shutil.copy(REPO / "agents" / "__init__.py", site / "agents" / "__init__.py")
    (site / "vr_env-0.1.0.dist-info").mkdir()
    (site / "vr_env-0.1.0.dist-info" / "top_level.txt").write_text("agents\nvr_env\n")
    assert _import_agents([site], cwd=tmp_path).returncode == 0  # our own distribution is no clash
    (site / "openai_agents-0.4.0.dist-info").mkdir()
    (site / "openai_agents-0.4.0.dist-info" / "RECORD").write_text("agents/__init__.py,sha256=x,1\nagents/run.py,,\n")
    run = _import_agents([site], cwd=tmp_path)
    assert run.returncode != 0 and "openai_agents (installed in" in run.stderr.strip().splitlines()[-1]


def test_another_copy_of_vr_env_is_no_clash(tmp_path: Path) -> None:
    """A checkout on the path beside an installed (non-editable) vr-env: the same package, not a foreign one."""
    copy = tmp_path / "installed"
    shutil.copytree(REPO / "agents", copy / "agents", ignore=shutil.ignore_patterns("__pycache__", "mini_base"))
    run = _import_agents([REPO, copy], cwd=tmp_path)
    assert run.returncode == 0, run.stderr
