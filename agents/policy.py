"""A generation backend as the episode driver's policy: one generation batch per turn.

:class:`BackendPolicy` renders each active episode's windowed context (``info["context"]``) with the
one :func:`vr_env.context.to_chat_messages`, groups the episodes by their turn's sampling settings
(the paper samples the first turn at temperature 1.0 and later ones at 0.9), generates each group as
one batch (at most ``max_batch_size`` rows), and returns a :class:`~vr_env.driver.Decision` per
episode: the text for the environment and the :class:`~agents.backends.base.Generation` (exact ids,
log-probs) for the turn records. ``script(episode, turn, info)`` may force a turn's text (its ids are
then fed through the backend, so log-probs stay real); the transformers backend supports it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from agents.backends.base import Generation, GenerationBackend, GenerationSettings
from vr_env.context import context_from_info, to_chat_messages
from vr_env.driver import Decision, Job

#: ``script(episode, turn, info) -> text | None``: a scripted turn (forced ids) or ``None`` (sample).
Script = Callable[[int, int, dict[str, Any]], "str | None"]


class BackendPolicy:
    """Batched turns from a :class:`GenerationBackend` (see the module docstring).

    Sampling is seeded per call from ``seed``, the first episode of the batch and the turn, without
    touching any global RNG. ``calls`` counts backend ``generate`` calls.
    """

    def __init__(
        self,
        backend: GenerationBackend,
        settings: GenerationSettings | None = None,
        *,
        seed: int = 0,
        script: Script | None = None,
        max_batch_size: int | None = None,
    ) -> None:
        if script is not None and not hasattr(backend, "encode_completion"):
            raise TypeError(f"scripted turns need a backend that can force ids; {type(backend).__name__} cannot")
        if max_batch_size is not None and max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {max_batch_size}")
        self.backend = backend
        self.settings = settings or GenerationSettings()
        self.seed = seed
        self.script = script
        self.max_batch_size = max_batch_size
        self.calls = 0
        self._jobs: dict[int, Job] = {}

    def begin(self, slot: int, job: Job) -> None:
        self._jobs[slot] = job

    def act_slots(
        self, slots: Sequence[int], observations: Sequence[Any], infos: Sequence[Mapping[str, Any]]
    ) -> list[Decision]:
        turns = [int(info.get("turn", 0)) for info in infos]
        by_settings: dict[GenerationSettings, list[int]] = {}
        for k, turn in enumerate(turns):
            by_settings.setdefault(self.settings.for_turn(turn), []).append(k)
        decisions: list[Decision | None] = [None] * len(slots)
        for settings, members in by_settings.items():
            size = self.max_batch_size or len(members)
            for start in range(0, len(members), size):
                chunk = members[start : start + size]
                episodes = [self._jobs[slots[k]].index if slots[k] in self._jobs else slots[k] for k in chunk]
                turn = min(turns[k] for k in chunk)
                generations = self._generate(
                    [dict(infos[k]) for k in chunk], [turns[k] for k in chunk], episodes, settings, turn
                )
                for k, generation in zip(chunk, generations, strict=True):
                    generation.extra.setdefault("temperature", settings.logprob_temperature)
                    decisions[k] = Decision(generation.text, generation)
        return [d for d in decisions if d is not None]

    def _generate(
        self,
        infos: list[dict[str, Any]],
        turns: list[int],
        episodes: list[int],
        settings: GenerationSettings,
        turn: int,
    ) -> list[Generation]:
        conversations = [to_chat_messages(context_from_info(info)) for info in infos]
        base = self.seed if settings.seed is None else settings.seed
        settings = settings.with_seed(_turn_seed(base, episodes[0], turn))
        self.calls += 1
        if self.script is None:
            return self.backend.generate(conversations, settings)
        texts = [self.script(e, t, info) for e, t, info in zip(episodes, turns, infos, strict=True)]
        if all(t is None for t in texts):
            return self.backend.generate(conversations, settings)
        encode = self.backend.encode_completion  # type: ignore[attr-defined]
        forced = [None if t is None else encode(t) for t in texts]
        generations = self.backend.generate(conversations, settings, forced_token_ids=forced)  # type: ignore[call-arg]
        for generation, text in zip(generations, texts, strict=True):
            generation.extra["forced"] = text is not None
        return generations


def _turn_seed(base: int, first_episode: int, turn: int) -> int:
    """A sampling seed fixed by the rollout seed, the batch's first episode and the turn."""
    return int(np.random.SeedSequence([base, first_episode, turn]).generate_state(1)[0])
