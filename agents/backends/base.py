"""The generation interface every backend implements, and the sampling settings they share."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Protocol, runtime_checkable

import numpy as np

#: A chat conversation as ``vr_env.context.to_chat_messages`` returns it.
Conversation = list[dict[str, Any]]


@dataclass(frozen=True)
class GenerationSettings:
    """How one turn is decoded. Defaults are the paper's rollout settings (spec section 2).

    ``temperature_after_first`` (paper: 0.9) replaces ``temperature`` from the second turn on;
    :meth:`for_turn` applies it (``None`` keeps ``temperature`` on every turn). ``seed`` makes sampling reproducible where the backend allows.
    """

    temperature: float = 1.0
    top_p: float = 0.95
    top_k: int = 40
    max_new_tokens: int = 2048
    do_sample: bool = True
    temperature_after_first: float | None = 0.9
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.do_sample and self.temperature <= 0:
            raise ValueError(f"sampling needs temperature > 0, got {self.temperature}")
        if self.do_sample and self.temperature_after_first is not None and self.temperature_after_first <= 0:
            raise ValueError(f"sampling needs temperature_after_first > 0, got {self.temperature_after_first}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must lie in (0, 1], got {self.top_p}")
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")

    @classmethod
    def greedy(cls, max_new_tokens: int = 2048) -> GenerationSettings:
        """Evaluation decoding: greedy, as in the paper."""
        return cls(
            do_sample=False,
            temperature=1.0,
            top_p=1.0,
            top_k=0,
            max_new_tokens=max_new_tokens,
            temperature_after_first=None,
        )

    @property
    def logprob_temperature(self) -> float:
        """The temperature log-probabilities are computed at (1.0 when greedy)."""
        return self.temperature if self.do_sample else 1.0

    def for_turn(self, turn: int) -> GenerationSettings:
        """Settings for 0-based model turn ``turn``."""
        if turn > 0 and self.do_sample and self.temperature_after_first is not None:
            return replace(self, temperature=self.temperature_after_first, temperature_after_first=None)
        return self

    def with_seed(self, seed: int | None) -> GenerationSettings:
        return replace(self, seed=seed)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Generation:
    """One generated turn.

    ``text`` is what the agent sends to the env (the end-of-turn token removed). ``token_ids`` are the
    sampled ids including the stop token when one was emitted; ``logprobs`` (one per id) are
    ``log_softmax(raw_logits / temperature)`` of the sampled ids. ``prompt_ids`` are the exact ids the
    completion was conditioned on and ``image_grid_thw`` the per-image patch grids; backends that
    cannot see them (hosted APIs) leave them ``None``. ``finish_reason`` is ``"stop"`` or ``"length"``.
    """

    text: str
    token_ids: list[int] | None = None
    logprobs: list[float] | None = None
    prompt_ids: list[int] | None = None
    image_grid_thw: np.ndarray | None = None
    finish_reason: str = "stop"
    extra: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class GenerationBackend(Protocol):
    """Generates one assistant turn for each conversation of a batch."""

    def generate(self, conversations: Sequence[Conversation], settings: GenerationSettings) -> list[Generation]:
        """One :class:`Generation` per conversation, in order."""
        ...


class BackendUnavailableError(RuntimeError):
    """An optional backend's dependency is missing or its server cannot be reached."""
