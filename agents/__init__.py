"""vr-env's agents and trainers (``agents`` is vr-env's import name for them; see docs/quickstart.md).

Another popular package (the OpenAI Agents SDK, ``openai-agents``) also installs a top-level
``agents`` package: installed into one environment, one overwrites the other's files. At import,
this checks for a foreign ``agents`` package (another ``agents/__init__.py`` on ``sys.path``, or
another distribution installed beside this one that ships ``agents``) and fails with one line
saying what clashes and what to do. ``VR_ENV_ALLOW_FOREIGN_AGENTS=1`` skips the check.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent


def _installed_beside() -> str | None:
    """A distribution other than vr-env, installed in the folder holding this package, that ships ``agents``."""
    for info in _HERE.parent.glob("*.dist-info"):
        name = info.name.split("-")[0]
        if name.lower().replace("-", "_") == "vr_env":
            continue
        top = info / "top_level.txt"
        try:
            if top.is_file():
                if "agents" in top.read_text(encoding="utf-8").split():
                    return f"{name} (installed in {_HERE.parent})"
                continue
            record = info / "RECORD"
            if record.is_file():
                with record.open(encoding="utf-8") as lines:
                    if any(line.startswith("agents/") for line in lines):
                        return f"{name} (installed in {_HERE.parent})"
        except OSError:
            continue
    return None


def _elsewhere_on_path() -> str | None:
    """Another ``agents`` package on ``sys.path`` (it shadows, or is shadowed by, this one)."""
    for entry in sys.path:
        try:
            candidate = (Path(entry or ".") / "agents").resolve()
            if candidate != _HERE and (candidate / "__init__.py").is_file() and not _is_vr_env_copy(candidate):
                return f"the package at {candidate}"
        except OSError:
            continue
    return None


def _is_vr_env_copy(folder: Path) -> bool:
    """Another copy of this very package (a checkout beside an installed vr-env): not a clash."""
    return all((folder / name).exists() for name in ("rollout.py", "judge", "train"))


def foreign_agents() -> str | None:
    """What foreign ``agents`` package clashes with this one, or ``None``."""
    return _installed_beside() or _elsewhere_on_path()


def _check() -> None:
    if os.environ.get("VR_ENV_ALLOW_FOREIGN_AGENTS", "").strip() in ("1", "true", "yes"):
        return
    found = foreign_agents()
    if found is not None:
        raise ImportError(
            f"import name clash: vr-env's 'agents' package ({_HERE}) and {found} both use the top-level name "
            "'agents' (e.g. the OpenAI Agents SDK); install them in separate virtual environments "
            "(or set VR_ENV_ALLOW_FOREIGN_AGENTS=1 if you know they do not overlap)"
        )


_check()
