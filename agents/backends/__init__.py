"""Generation backends behind one interface: transformers (default), vLLM (GPU), OpenAI-compatible HTTP.

``make_backend(name, model, **kwargs)`` builds one by name; heavy imports happen only then.
"""

from __future__ import annotations

from typing import Any

from agents.backends.base import (
    BackendUnavailableError,
    Conversation,
    Generation,
    GenerationBackend,
    GenerationSettings,
)

BACKENDS: tuple[str, ...] = ("transformers", "vllm", "openai")

__all__ = [
    "BACKENDS",
    "BackendUnavailableError",
    "Conversation",
    "Generation",
    "GenerationBackend",
    "GenerationSettings",
    "make_backend",
]


def make_backend(name: str, model: str, **kwargs: Any) -> GenerationBackend:
    """``"transformers"`` (model folder or hub id), ``"vllm"`` or ``"openai"`` (served model name)."""
    if name == "transformers":
        from agents.backends.transformers_backend import TransformersBackend

        return TransformersBackend.from_pretrained(model, **kwargs)
    if name == "vllm":
        from agents.backends.vllm_backend import VLLMBackend

        return VLLMBackend(model, **kwargs)
    if name == "openai":
        from agents.backends.openai_http import OpenAIChatBackend

        return OpenAIChatBackend(model=model, **kwargs)
    raise ValueError(f"unknown backend {name!r}; choose one of {BACKENDS}")
