"""Checks ``vr-env eval`` runs before starting, so mistakes end in one line that names the fix.

- ``--limit 0`` evaluates nothing: an error, not an empty report;
- ``--model PATH`` that looks like a local folder but does not exist (or any model name while the
  hub is offline that is not a local folder): an error naming the path, not a hub traceback;
- ``--agent hf`` on a machine without a GPU: without an explicit ``max_new_tokens`` the CPU default
  :data:`CPU_MAX_NEW_TOKENS` is used (the paper's 2,048 tokens per turn take minutes per episode on
  CPU), and a note says so and how to change it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

#: New tokens per turn for ``--agent hf`` on CPU unless ``--agent-arg max_new_tokens=N`` is given.
CPU_MAX_NEW_TOKENS = 256


def limit_problem(limit: int | None) -> str | None:
    if limit is None or limit > 0:
        return None
    if limit == 0:
        return "--limit 0 evaluates no pair; give a positive number, or leave --limit out for every pair"
    return f"--limit must be a positive number, got {limit}"


def _hub_offline() -> bool:
    return any(
        os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")
        for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def looks_like_path(model: str) -> bool:
    """A local path rather than a hub id ``org/name``: absolute, ``./`` / ``../`` / ``~``, or more than one ``/``."""
    text = model.replace("\\", "/")
    return text.startswith(("/", "./", "../", "~", ".")) or text.count("/") > 1 or text.endswith("/")


def model_problem(model: str | None, backend: str | None = None) -> str | None:
    """Why ``--model`` cannot be loaded, when that is clear before loading it (else ``None``)."""
    if model is None or backend in ("openai", "vllm"):
        return None
    path = Path(model).expanduser()
    if path.exists():
        if path.is_dir() and not (path / "config.json").exists():
            return f"--model {model}: the folder has no config.json, so it is not a saved model"
        return None
    if looks_like_path(model):
        return f"--model {model}: no such folder"
    if _hub_offline() and not _in_hub_cache(model):
        return (
            f"--model {model}: not a local folder nor in the hub cache, and the hub is offline "
            "(HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE)"
        )
    return None


def _in_hub_cache(repo_id: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ModuleNotFoundError:
        return True  # cannot tell without the train extra: let the loader decide
    try:
        return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)
    except Exception:  # an id the hub library rejects: not cached
        return False


def cpu_generation_note(agent: str, agent_kwargs: dict[str, Any]) -> str | None:
    """For ``--agent hf`` without a GPU and without ``max_new_tokens``: set the CPU default, return a note."""
    if (
        agent != "hf"
        or "max_new_tokens" in agent_kwargs
        or agent_kwargs.get("backend", "transformers") != "transformers"
    ):
        return None
    device = str(agent_kwargs.get("device") or "")
    if device.startswith("cuda"):
        return None
    try:
        import torch
    except ModuleNotFoundError:
        return None  # the missing train extra is reported when the agent is built
    if torch.cuda.is_available() and not device.startswith("cpu"):
        return None
    agent_kwargs["max_new_tokens"] = CPU_MAX_NEW_TOKENS
    return (
        f"note: no GPU, so --agent hf generates at most {CPU_MAX_NEW_TOKENS} new tokens per turn "
        "(the paper's 2048 take minutes per episode on CPU); --agent-arg max_new_tokens=N to change it"
    )


def overwrite_hint(message: str) -> str:
    """An output-folder conflict message that names ``--overwrite``."""
    if "--overwrite" in message:
        return message
    return f"{message} (pass --overwrite to discard the earlier results, or choose another --out)"


class TurnProgress:
    """Per-turn progress on stderr for long episodes (``--agent hf``): a line every ``every`` seconds.

    ``then`` is called with each turn too (e.g. a recorder's ``on_turn``).
    """

    def __init__(self, every: float = 5.0, then: Any | None = None, stream: Any | None = None) -> None:
        import sys
        import time

        self._clock = time.monotonic
        self.every, self.then, self.stream = every, then, stream or sys.stderr
        self.turns = 0
        self._start = self._last = self._clock()

    def __call__(self, result: Any) -> None:
        self.turns += 1
        now = self._clock()
        if now - self._last >= self.every:
            self._last = now
            rate = self.turns / max(now - self._start, 1e-9)
            print(f"eval: {self.turns} turns played ({rate:.2f} turns/s)", file=self.stream, flush=True)
        if self.then is not None:
            self.then(result)
