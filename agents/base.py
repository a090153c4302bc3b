"""The agent interface: anything that turns an observation (and info) into one model turn.

>>> agent = as_agent(lambda obs: "<Answer>TA=0, VQ=0, MQ=0, OA=0</Answer>")
>>> agent.act({"text": "hi"}, {})
'<Answer>TA=0, VQ=0, MQ=0, OA=0</Answer>'
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Agent(Protocol):
    """``act(observation, info) -> str``; ``reset()`` is called at the start of every episode."""

    def reset(self) -> None: ...

    def act(self, observation: Mapping[str, Any], info: Mapping[str, Any]) -> str: ...


class CallableAgent:
    """Adapts a plain callable ``f(observation)`` or ``f(observation, info)`` to :class:`Agent`."""

    def __init__(self, fn: Callable[..., str]):
        self.fn = fn
        try:
            params = inspect.signature(fn).parameters.values()
            positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
            self._takes_info = len(positional) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in params)
        except (TypeError, ValueError):
            self._takes_info = False

    def reset(self) -> None:
        reset = getattr(self.fn, "reset", None)
        if callable(reset):
            reset()

    def act(self, observation: Mapping[str, Any], info: Mapping[str, Any]) -> str:
        return self.fn(observation, info) if self._takes_info else self.fn(observation)

    def __repr__(self) -> str:
        return f"CallableAgent({getattr(self.fn, '__name__', self.fn)!r})"


def as_agent(obj: Any) -> Agent:
    """Return ``obj`` if it already is an :class:`Agent`, else wrap a callable."""
    if hasattr(obj, "act") and callable(obj.act):
        if not hasattr(obj, "reset"):
            obj.reset = lambda: None
        return obj
    if callable(obj):
        return CallableAgent(obj)
    raise TypeError(f"an agent needs act(observation, info) or must be callable, got {type(obj).__name__}")
