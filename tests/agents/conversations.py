"""A small chat conversation with random images, and a forward-pass replay, shared by the backend tests."""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from agents.backends.transformers_backend import TransformersBackend, forward_logprobs


def conversation(n_images: int, text: str = "Compare the frames.", seed: int = 0) -> list[dict[str, Any]]:
    """System + user messages: ``text``, then ``n_images`` labelled random 56x84 images."""
    rng = np.random.default_rng(seed)
    content: list[dict[str, Any]] = [{"type": "text", "text": text}]
    for i in range(n_images):
        content.append({"type": "text", "text": f"\nFrame {i + 1}:"})
        content.append({"type": "image", "image": Image.fromarray(rng.integers(0, 256, (56, 84, 3), dtype=np.uint8))})
    return [
        {"role": "system", "content": [{"type": "text", "text": "You judge videos."}]},
        {"role": "user", "content": content},
    ]


def replay_logprobs(
    backend: TransformersBackend,
    conv: list[dict[str, Any]],
    prompt_ids: list[int],
    ids: list[int],
    temperature: float = 1.0,
) -> np.ndarray:
    """Log-probs of ``ids`` after ``prompt_ids`` from one unbatched forward pass."""
    import torch

    sequence = torch.tensor([prompt_ids + ids])
    images = [b["image"] for m in conv for b in m["content"] if b["type"] == "image"]
    inputs: dict[str, Any] = {
        "input_ids": sequence,
        "attention_mask": torch.ones_like(sequence),
        "mm_token_type_ids": (sequence == backend.image_token_id).long(),
    }
    if images:
        inputs.update(backend.processor.image_processor(images=images, return_tensors="pt"))
    return np.array(forward_logprobs(backend.model, inputs, [len(ids)], temperature)[0])
