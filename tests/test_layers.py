"""Layers point one way: the environment layer imports neither ``agents`` nor torch; protocol,
data and video keep their own directions (docs/architecture.md)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "vr_env"
#: The command line is the top floor: it may import anything, lazily.
TOP_FLOOR = {"cli.py", "commands"}


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at any depth (lazy imports included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def environment_files() -> list[Path]:
    return [p for p in sorted(PACKAGE.rglob("*.py")) if p.relative_to(PACKAGE).parts[0] not in TOP_FLOOR]


def offenders(files: list[Path], forbidden: tuple[str, ...]) -> list[str]:
    found = []
    for path in files:
        for module in imported_modules(path):
            if module == forbidden or module.startswith(forbidden):
                found.append(f"{path.name} ({path.parent.name}) imports {module}")
    return found


#: The allowed exceptions, each a lazy import reached only where torch is installed: the decord backend
#: imports torch first, because decord2 otherwise preloads NVIDIA libraries that crash torch's CPU BLAS
#: (tests/video); data-parallel evaluation gathers its shards over torch.distributed, only when a
#: launcher (torchrun, accelerate launch) started several processes (tests/eval/test_parallel.py);
#: the torchcodec backend is the torch-based decoder itself, loaded only when chosen (tests/video/test_torchcodec.py);
#: the resize uses torchvision's tensor resize (Qwen2.5-VL's own processor path) where it imports and
#: falls back to PIL where it does not (tests/video/test_video_resize.py).
ALLOWED = {
    "backends.py (video) imports torch",
    "backends.py (video) imports torchcodec.decoders",
    "parallel.py (eval) imports torch.distributed",
    "resize.py (video) imports torch",
    "resize.py (video) imports torchvision.transforms.v2",
    "resize.py (video) imports torchvision.transforms.v2.functional",
}


def test_environment_layer_never_imports_agents_or_torch() -> None:
    assert environment_files(), "no files found: the test would pass vacuously"
    found = offenders(environment_files(), ("agents", "torch", "transformers", "trl"))
    assert [f for f in found if f not in ALLOWED] == []


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [("protocol", ("vr_env.data", "vr_env.video", "vr_env.env")), ("video", ("vr_env.data", "vr_env.env"))],
)
def test_lower_packages_do_not_import_upwards(package: str, forbidden: tuple[str, ...]) -> None:
    files = sorted((PACKAGE / package).rglob("*.py"))
    assert files and offenders(files, forbidden) == []


def test_checker_sees_lazy_imports(tmp_path: Path) -> None:
    sample = tmp_path / "lazy.py"
    sample.write_text("def f():\n    from agents.hf import make_hf_agent\n    import torch\n")
    assert offenders([sample], ("agents", "torch")) != []


def test_importing_the_environment_layer_loads_no_agents_and_no_torch() -> None:
    modules = [".".join(p.relative_to(ROOT).with_suffix("").parts) for p in environment_files()]
    modules = [m.removesuffix(".__init__") for m in modules]
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('agents', 'torch'))\n"
        "print(bad)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"
