"""Agents by name: ``make_agent("scanner", seed=0)``.

Built-in names: ``random``, ``answer-now``, ``scanner`` (scripted baselines, :mod:`agents.baselines`),
``human`` (a person at the terminal, :mod:`agents.human`) and ``hf`` (a Hugging Face VLM,
``agents.hf.make_hf_agent``; needs ``model_path``). Anything else of the form ``module:attr`` (or
``path/to/file.py:attr``) loads a user's agent:

- a class is instantiated with the keyword arguments;
- ``module:attr()`` (trailing parentheses) calls a factory with the keyword arguments;
- an object with ``act`` or a plain callable ``observation -> text`` is used as it is.

``seed`` is passed only to what accepts it, so every agent can be asked for one.

>>> make_agent("random", seed=1).act({"text": ""}, {})[:10]
'<Snapshot>'
>>> make_agent("agents.baselines:ScannerAgent", seed=2).seed
2
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agents.base import Agent, as_agent


def _random(**kw: Any) -> Agent:
    from agents.baselines import RandomAgent

    return RandomAgent(**kw)


def _answer_now(**kw: Any) -> Agent:
    from agents.baselines import AnswerNowAgent

    kw.pop("seed", None)  # deterministic
    return AnswerNowAgent(**kw)


def _scanner(**kw: Any) -> Agent:
    from agents.baselines import ScannerAgent

    return ScannerAgent(**kw)


def _human(**kw: Any) -> Agent:
    from agents.human import HumanAgent

    kw.pop("seed", None)
    return HumanAgent(**kw)


def _hf(**kw: Any) -> Agent:
    model_path = kw.pop("model_path", None) or kw.pop("model", None)
    if not model_path:
        raise ValueError("agent 'hf' needs a model: pass model_path=... (vr-env eval --model PATH)")
    from agents.hf import make_hf_agent

    return as_agent(make_hf_agent(model_path=model_path, **kw))


BUILTIN_AGENTS: dict[str, Callable[..., Agent]] = {
    "random": _random,
    "answer-now": _answer_now,
    "scanner": _scanner,
    "human": _human,
    "hf": _hf,
}


def agent_names() -> list[str]:
    """The built-in agent names."""
    return list(BUILTIN_AGENTS)


def _accepts(fn: Callable[..., Any], name: str) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind == p.VAR_KEYWORD for p in params.values())


def _load(spec: str) -> Any:
    module_name, _, attr = spec.rpartition(":")
    if not module_name or not attr:
        raise ValueError(f"an agent reference is 'module:attr' or 'file.py:attr', got {spec!r}")
    if module_name.endswith(".py") or "/" in module_name:
        path = Path(module_name).expanduser().resolve()
        if not path.is_file():
            raise ValueError(f"agent file {path} not found")
        module_spec = importlib.util.spec_from_file_location(f"_vr_env_user_agent_{path.stem}", path)
        if module_spec is None or module_spec.loader is None:
            raise ValueError(f"cannot import agent file {path}")
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ValueError(f"cannot import {module_name!r} for agent {spec!r}: {exc}") from exc
    target: Any = module
    for part in attr.split("."):
        if not hasattr(target, part):
            raise ValueError(f"{module_name!r} has no attribute {attr!r} (agent {spec!r})")
        target = getattr(target, part)
    return target


def make_agent(name: str, **kwargs: Any) -> Agent:
    """A built-in agent by name, or a user's agent as ``module:attr`` (see the module docstring)."""
    if name in BUILTIN_AGENTS:
        return as_agent(BUILTIN_AGENTS[name](**kwargs))
    if ":" not in name:
        raise ValueError(f"unknown agent {name!r}; built-in agents: {', '.join(BUILTIN_AGENTS)}, or 'module:attr'")
    factory_call = name.endswith("()")
    target = _load(name[:-2] if factory_call else name)
    seed = kwargs.pop("seed", None)
    if inspect.isclass(target) or factory_call:
        if seed is not None and _accepts(target, "seed"):
            kwargs["seed"] = seed
        return as_agent(target(**kwargs))
    if kwargs:
        raise TypeError(f"{name!r} is used as the agent itself and takes no options, got {sorted(kwargs)}")
    return as_agent(target)
