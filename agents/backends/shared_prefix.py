"""Shared-prefix prefill: the identical prompts of a generation call are prefilled once.

Rows of one call whose rendered prompt and images are identical (the first turn of the G episodes of
a GRPO group) share a prefill. :func:`share_plan` finds the distinct prompts by content
(:func:`prompt_key`); :func:`prefill_shared` prefills them as one batch (all but their last token,
images encoded once) and gathers the KV cache and the multimodal rope deltas to the call's rows, so
``model.generate`` continues from that cache on the full left-padded batch: same ids, padding,
sampling order and logits processors as without sharing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from agents.backends.base import Conversation
from agents.backends.conversation_media import conversation_images, conversation_videos


def _feed_payload(digest: Any, payload: Any) -> bool:
    """Add one image (or video frame) payload's content to ``digest``; ``False`` if its kind is unknown."""
    from PIL import Image

    if isinstance(payload, Image.Image):
        digest.update(f"pil:{payload.mode}:{payload.size}".encode())
        digest.update(payload.tobytes())
    elif isinstance(payload, np.ndarray):
        array = np.ascontiguousarray(payload)
        digest.update(f"array:{array.dtype}:{array.shape}".encode())
        digest.update(array.tobytes())
    elif isinstance(payload, (str, Path)):
        digest.update(f"ref:{payload}".encode())
    elif hasattr(payload, "detach") and hasattr(payload, "numpy"):  # a torch tensor
        return _feed_payload(digest, payload.detach().cpu().numpy())
    else:
        return False
    return True


def prompt_key(text: str, conversation: Conversation) -> bytes | None:
    """Digest of a rendered prompt and its image / video payloads (``None``: a payload it cannot hash).

    Two rows with the same key get the same model inputs from the processor: the shared-prefix path
    prefills them once.
    """
    digest = hashlib.blake2b(text.encode(), digest_size=20)
    for image in conversation_images(conversation):
        if not _feed_payload(digest, image):
            return None
    for video in conversation_videos(conversation):
        digest.update(f"video:{len(video)}".encode())
        for frame in video:
            if not _feed_payload(digest, frame):
                return None
    return digest.digest()


def share_plan(texts: Sequence[str], conversations: Sequence[Conversation]) -> tuple[list[int], list[int]] | None:
    """``(unique_rows, row_to_unique)`` when some rows of a call repeat another's prompt, else ``None``.

    ``unique_rows[j]`` is the first row with the ``j``-th distinct prompt; ``row_to_unique[i]`` the
    distinct prompt of row ``i``. Rows whose payloads cannot be hashed stay on their own.
    """
    seen: dict[bytes, int] = {}
    unique_rows: list[int] = []
    mapping: list[int] = []
    for row, (text, conversation) in enumerate(zip(texts, conversations, strict=True)):
        key = prompt_key(text, conversation)
        if key is None or key not in seen:
            if key is not None:
                seen[key] = len(unique_rows)
            mapping.append(len(unique_rows))
            unique_rows.append(row)
        else:
            mapping.append(seen[key])
    return None if len(unique_rows) == len(mapping) else (unique_rows, mapping)


class SharingUnsupportedError(RuntimeError):
    """The model cannot continue generation from a gathered KV cache (the plain path is used)."""


def prefill_shared(model: Any, batch: Any, mapping: Sequence[int]) -> Any:
    """Prefill the distinct prompts of ``batch`` but their last token; the cache gathered to ``mapping``.

    Positions are those ``model.generate`` computes for the full prompts (3D rope for Qwen-VL);
    the model's stored rope deltas are gathered to the rows too, so the decoding steps continue
    each row at its own positions. Raises :class:`SharingUnsupportedError` where the model's
    cache or position handling is not the one this relies on.
    """
    import inspect

    import torch
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer

    ids = batch["input_ids"]
    rows, length = ids.shape
    if length < 2:
        raise SharingUnsupportedError("a one-token prompt has nothing to share")
    parameters = inspect.signature(model.forward).parameters
    if "cache" not in parameters:
        raise SharingUnsupportedError("its forward takes no `cache` argument")
    prepare = getattr(model, "_prepare_position_ids_for_generation", None)
    if prepare is None:
        raise SharingUnsupportedError("it has no _prepare_position_ids_for_generation")
    per_token = {
        key: value[:, : length - 1]
        for key, value in batch.items()
        if isinstance(value, torch.Tensor) and value.dim() == 2 and tuple(value.shape) == (rows, length)
    }
    inputs = {**{k: v for k, v in batch.items() if k not in per_token}, **per_token}
    inner = getattr(model, "model", None)
    if inner is not None and hasattr(inner, "rope_deltas"):
        inner.rope_deltas = None  # computed afresh for these prompts, as generate does
    with torch.inference_mode():
        position_ids = prepare(per_token["input_ids"], dict(inputs))
        output = model(**inputs, position_ids=position_ids, use_cache=True, logits_to_keep=1)
    cache = getattr(output, "cache", None)
    if not isinstance(cache, DynamicCache) or any(type(layer) is not DynamicLayer for layer in cache.layers):
        raise SharingUnsupportedError(f"its prefill cache is a {type(cache).__name__}, not a plain DynamicCache")
    if cache.get_seq_length() != length - 1:
        raise SharingUnsupportedError("its prefill cache does not hold the prompt")
    index = torch.tensor(list(mapping), device=ids.device)
    cache.batch_select_indices(index)
    if inner is not None and hasattr(inner, "rope_deltas"):
        deltas = inner.rope_deltas
        if not isinstance(deltas, torch.Tensor) or deltas.shape[0] != rows:
            raise SharingUnsupportedError("its rope deltas are not one per prompt")
        inner.rope_deltas = deltas[index.to(deltas.device)]
    return cache
