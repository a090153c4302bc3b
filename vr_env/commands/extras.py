"""Optional extras: one clear line instead of ``No module named 'torch'`` when the ``train`` extra is missing.

``vr-env`` itself (env, data, video, eval, the built-in baseline agents) needs only the base install;
``make-tiny-model``, ``eval --agent hf`` and examples 03 / 04 need ``pip install -e '.[train]'``.

>>> missing_extra_message(ModuleNotFoundError("No module named 'torch'", name="torch"), "vr-env make-tiny-model")
"vr-env make-tiny-model needs the train extra (module 'torch' is not installed): pip install -e '.[train]'"
>>> missing_extra_message(ModuleNotFoundError("x", name="my_agent"), "vr-env eval") is None
True
"""

from __future__ import annotations

import importlib.util

#: Top-level modules that only the ``train`` extra installs.
TRAIN_MODULES = frozenset(
    {"torch", "torchvision", "transformers", "trl", "accelerate", "peft", "datasets", "tokenizers",
     "stable_baselines3", "sb3_contrib", "safetensors", "huggingface_hub"}
)  # fmt: skip
INSTALL_TRAIN = "pip install -e '.[train]'"


def missing_extra_message(exc: ModuleNotFoundError, what: str) -> str | None:
    """The one-line fix when ``exc`` is a missing ``train``-extra module, else ``None``."""
    root = (exc.name or "").split(".")[0]
    if root not in TRAIN_MODULES:
        return None
    return f"{what} needs the train extra (module {root!r} is not installed): {INSTALL_TRAIN}"


def require_train_extra(what: str, modules: tuple[str, ...] = ("torch", "transformers")) -> None:
    """Exit with the one-line fix when one of ``modules`` is not installed (for examples and scripts)."""
    for module in modules:
        if importlib.util.find_spec(module) is None:
            raise SystemExit(f"{what} needs the train extra (module {module!r} is not installed): {INSTALL_TRAIN}")
