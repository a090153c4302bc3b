"""Agents by name: ``make_agent("scanner", seed=0)``.

One registry, extended without editing this package: a distribution declares agents in the
``vr_env.agents`` entry-point group (``name = module:factory``); vr-env declares its own built-ins
there too (``random``, ``answer-now``, ``scanner``, ``human``, ``hf``; see ``setup.py``).
:func:`register_agent` adds one in-process. Anything else of the form ``module:attr`` (or
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
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from vr_env.agent import Agent, accepts_keyword, as_agent

#: The entry-point group other packages use to add agents.
ENTRY_POINT_GROUP = "vr_env.agents"

_REGISTERED: dict[str, Callable[..., Any]] = {}


def register_agent(name: str, factory: Callable[..., Any]) -> None:
    """Make ``factory(**kwargs)`` available as agent ``name`` in this process."""
    if ":" in name:
        raise ValueError(f"agent names cannot contain ':' (that form loads module:attr), got {name!r}")
    _REGISTERED[name] = factory


def _entry_points() -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def agent_names() -> list[str]:
    """Every agent name known here: entry points (built-ins included) and in-process registrations."""
    return sorted({*_entry_points(), *_REGISTERED})


def _factory(name: str) -> Callable[..., Any] | None:
    if name in _REGISTERED:
        return _REGISTERED[name]
    ep = _entry_points().get(name)
    if ep is None:
        return None
    try:
        return ep.load()
    except ImportError as exc:
        raise ValueError(f"agent {name!r} ({ep.value}) cannot be imported: {exc}") from exc


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


def _build(target: Any, kwargs: dict[str, Any]) -> Agent:
    seed = kwargs.pop("seed", None)
    if seed is not None and accepts_keyword(target, "seed"):
        kwargs["seed"] = seed
    return as_agent(target(**kwargs))


def make_agent(name: str, **kwargs: Any) -> Agent:
    """An agent by registered name, or a user's agent as ``module:attr`` (see the module docstring)."""
    factory = _factory(name)
    if factory is not None:
        return _build(factory, dict(kwargs))
    if ":" not in name:
        known = ", ".join(agent_names()) or "none (is vr-env installed? pip install -e .)"
        raise ValueError(f"unknown agent {name!r}; known agents: {known}; or give 'module:attr' / 'file.py:attr'")
    factory_call = name.endswith("()")
    target = _load(name[:-2] if factory_call else name)
    if inspect.isclass(target) or factory_call:
        return _build(target, dict(kwargs))
    kwargs.pop("seed", None)
    if kwargs:
        raise TypeError(f"{name!r} is used as the agent itself and takes no options, got {sorted(kwargs)}")
    return as_agent(target)
