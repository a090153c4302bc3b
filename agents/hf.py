"""A vision-language judge: any image-text-to-text model with a chat template, in the env loop.

``HFVLMAgent.act(observation, info)`` renders ``info["context"]`` (the windowed context) with
``vr_env.context.to_chat_messages``, generates one turn and returns its text. Generation goes through
a :class:`~agents.backends.base.GenerationBackend` (transformers by default; vLLM or an
OpenAI-compatible server for large models). ``make_hf_agent`` is the factory ``vr-env eval`` uses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from agents.backends import make_backend
from agents.backends.base import Generation, GenerationBackend, GenerationSettings
from agents.policy import BackendPolicy
from vr_env.context import context_from_info, to_chat_messages
from vr_env.driver import Decision, Job

__all__ = ["GenerationSettings", "HFVLMAgent", "hf_agent", "make_hf_agent"]


class HFVLMAgent:
    """Judge agent over a generation backend. ``settings`` default: the paper's sampling settings.

    ``last_generation`` keeps the latest :class:`Generation` (ids, log-probs) for inspection.
    """

    def __init__(self, backend: GenerationBackend, settings: GenerationSettings | None = None) -> None:
        self.backend = backend
        self.settings = settings or GenerationSettings()
        self.last_generation: Generation | None = None
        self._turn = 0
        self._calls = 0
        self._batch = BackendPolicy(backend, self.settings, seed=self.settings.seed or 0)

    @classmethod
    def from_pretrained(
        cls,
        model_path: str | Path,
        *,
        settings: GenerationSettings | None = None,
        device: str | None = None,
        dtype: str | None = None,
        max_batch_size: int | None = None,
    ) -> HFVLMAgent:
        """Load a transformers model + ``AutoProcessor`` from ``model_path`` (local folder or hub id)."""
        from agents.backends.transformers_backend import TransformersBackend

        backend = TransformersBackend.from_pretrained(
            model_path, device=device, dtype=dtype, max_batch_size=max_batch_size
        )
        return cls(backend, settings)

    def reset(self, seed: int | None = None) -> None:
        """New episode; a ``seed`` re-seeds sampling (the eval runner passes one per episode)."""
        self._turn = 0
        self.last_generation = None
        if seed is not None and self.settings.do_sample:
            self.settings = self.settings.with_seed(seed)
            self._calls = 0

    def act(self, observation: Any, info: Mapping[str, Any]) -> str:
        """One model turn for the episode whose current context is ``info["context"]``."""
        turn = int(info.get("turn", self._turn))
        generation = self.backend.generate([to_chat_messages(context_from_info(info))], self._settings(turn))[0]
        self.last_generation = generation
        self._turn = turn + 1
        return generation.text

    def begin(self, slot: int, job: Job) -> None:
        """The episode driver starts ``job`` in ``slot`` (batched use)."""
        self._batch.begin(slot, job)

    def act_slots(
        self, slots: Sequence[int], observations: Sequence[Any], infos: Sequence[Mapping[str, Any]]
    ) -> list[Decision]:
        """One turn for each active episode, generated as one batch per sampling setting; each
        :class:`~vr_env.driver.Decision` carries its :class:`Generation` for turn records."""
        return self._batch.act_slots(slots, observations, infos)

    def act_batch(self, observations: Sequence[Any], infos: Sequence[Mapping[str, Any]]) -> list[str]:
        """One turn's text for each of several episodes, generated as one batch."""
        return [d.action for d in self.act_slots(list(range(len(infos))), observations, infos)]

    def _settings(self, turn: int) -> GenerationSettings:
        """This call's settings: per-turn temperature, and a fresh seed per call when seeded."""
        settings = self.settings.for_turn(turn)
        self._calls += 1
        return settings if settings.seed is None else settings.with_seed(settings.seed + self._calls)

    def __call__(self, observation: Any, info: dict[str, Any] | None = None) -> str:
        if info is None:
            raise TypeError("HFVLMAgent needs the env's info (it reads info['context'])")
        return self.act(observation, info)


def make_hf_agent(
    model_path: str | Path,
    *,
    backend: str = "transformers",
    greedy: bool = True,
    max_new_tokens: int = 2048,
    device: str | None = None,
    dtype: str | None = None,
    seed: int | None = None,
    **backend_kwargs: Any,
) -> HFVLMAgent:
    """Build a judge for ``model_path``.

    ``backend``: ``"transformers"`` (default; ``device``, ``dtype``, ``max_batch_size``), ``"vllm"``
    (GPU, optional extra; keyword arguments go to ``vllm.LLM``) or ``"openai"`` (``model_path`` is the
    served model name; ``base_url``, ``api_key``...). ``greedy`` (default, evaluation) or the paper's
    sampling settings (temperature 1.0, top-p 0.95, top-k 40).
    """
    settings = (
        GenerationSettings.greedy(max_new_tokens=max_new_tokens)
        if greedy
        else GenerationSettings(max_new_tokens=max_new_tokens, seed=seed)
    )
    if backend == "transformers":
        backend_kwargs.update(device=device, dtype=dtype)
    elif backend == "vllm" and dtype is not None:
        backend_kwargs["dtype"] = dtype
    engine = make_backend(backend, str(model_path), **backend_kwargs)
    return HFVLMAgent(engine, settings)


def hf_agent(model_path: str | Path | None = None, model: str | Path | None = None, **kwargs: Any) -> HFVLMAgent:
    """The registry's ``hf`` agent: :func:`make_hf_agent` with the model given as ``model_path`` or ``model``."""
    path = model_path or model
    if not path:
        raise ValueError("agent 'hf' needs a model: pass model_path=... (vr-env eval --model PATH)")
    return make_hf_agent(model_path=path, **kwargs)
