"""A small chat conversation with random images, shared by the backend tests."""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image


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
