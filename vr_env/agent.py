"""The agent interface, and the adapters that turn agents into one batched policy for the driver.

An agent turns an observation (and ``info``) into one model turn: ``act(observation, info) -> str``,
with ``reset(seed=...)`` called as each episode starts. A plain callable ``f(observation)`` or
``f(observation, info)`` is an agent too. An agent with ``act_batch(observations, infos)`` serves
many episodes at once (one generation batch per turn).

>>> agent = as_agent(lambda obs: "<Answer>TA=0, VQ=0, MQ=0, OA=0</Answer>")
>>> agent.act({"text": "hi"}, {})
'<Answer>TA=0, VQ=0, MQ=0, OA=0</Answer>'
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Agent(Protocol):
    """``act(observation, info) -> str``; ``reset()`` is called at the start of every episode."""

    def reset(self) -> None: ...

    def act(self, observation: Mapping[str, Any], info: Mapping[str, Any]) -> str: ...


@runtime_checkable
class BatchPolicy(Protocol):
    """What the episode driver steps with: one action per active episode, in order."""

    def act_batch(self, observations: Sequence[Any], infos: Sequence[Mapping[str, Any]]) -> Sequence[Any]: ...


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


def accepts_keyword(fn: Callable[..., Any], name: str) -> bool:
    """Whether ``fn`` takes keyword ``name`` (or ``**kwargs``)."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind == p.VAR_KEYWORD for p in params.values())


def reset_agent(agent: Any, seed: int | None) -> None:
    """Call ``agent.reset(seed=seed)`` when it takes a seed, else ``agent.reset()`` if it has one."""
    reset = getattr(agent, "reset", None)
    if not callable(reset):
        return
    if seed is not None and accepts_keyword(reset, "seed"):
        reset(seed=seed)
    else:
        reset()


def agent_label(agent: Any) -> str:
    """A stable name for reports: the registry name, or the agent's class / function."""
    if isinstance(agent, str):
        return agent
    if isinstance(agent, (list, tuple)) and agent:
        return agent_label(agent[0])
    fn = getattr(agent, "fn", None)  # CallableAgent
    target = fn if fn is not None else agent
    if not inspect.isfunction(target) and not inspect.isclass(target):
        target = type(target)
    return f"{getattr(target, '__module__', '?')}.{getattr(target, '__qualname__', repr(target))}"


class SlotAgents:
    """One per-episode agent per driver slot: reset with the episode's seed, then ``act`` per turn.

    The driver calls ``act_slots(slots, observations, infos)`` on policies that have it.
    """

    def __init__(self, agents: Sequence[Any]) -> None:
        self.agents = [as_agent(a) for a in agents]
        self._active: list[int] = []

    def begin(self, slot: int, job: Any) -> None:
        reset_agent(self.agents[slot], getattr(job, "seed", None))

    def act_slots(
        self, slots: Sequence[int], observations: Sequence[Any], infos: Sequence[Mapping[str, Any]]
    ) -> list[Any]:
        return [self.agents[s].act(o, i) for s, o, i in zip(slots, observations, infos, strict=True)]


def as_policy(policy: Any, num_slots: int) -> Any:
    """The driver's view of ``policy``: an object with ``act_batch`` or ``act_slots`` as is, a list of ``num_slots``
    agents (or one agent for one slot) as :class:`SlotAgents`."""
    if isinstance(policy, (list, tuple)):
        if len(policy) != num_slots:
            raise ValueError(f"got {len(policy)} agents for {num_slots} environments; give one per environment")
        return SlotAgents(policy)
    if hasattr(policy, "act_batch") or hasattr(policy, "act_slots"):
        return policy
    if num_slots == 1:
        return SlotAgents([policy])
    raise ValueError(
        "one agent instance cannot serve several environments (it keeps per-episode state): "
        "pass a list with one agent per environment, or an agent with act_batch"
    )
