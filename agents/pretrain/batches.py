"""Model inputs for pretraining: chats to a left-padded batch whose labels cover the answers only.

>>> answer_mask([[5, 6, 7], [0, 8, 9]], [1, 2]).tolist()
[[False, False, True], [False, True, True]]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image

IGNORE_INDEX = -100


def to_pil(frame: np.ndarray) -> Image.Image:
    return Image.fromarray(np.asarray(frame, dtype=np.uint8))


def answer_mask(input_ids: Any, answer_lengths: Sequence[int]) -> torch.Tensor:
    """True on the last ``answer_lengths[i]`` tokens of row ``i`` (rows are left-padded)."""
    ids = torch.as_tensor(input_ids)
    mask = torch.zeros(ids.shape, dtype=torch.bool)
    for row, length in enumerate(answer_lengths):
        if length:
            mask[row, -int(length) :] = True
    return mask


def _images(messages: Sequence[dict[str, Any]]) -> list[Any]:
    return [b["image"] for m in messages for b in m["content"] if b.get("type") == "image"]


def chat_batch(processor: Any, chats: Sequence[Sequence[dict[str, Any]]], *, train: bool) -> dict[str, Any]:
    """Processor inputs for ``chats``. ``train``: each chat ends with its assistant answer, which alone is
    labelled (plus the end-of-turn token); otherwise the chats end with a user turn and get the
    generation prompt."""
    texts = [processor.apply_chat_template(list(c), tokenize=False, add_generation_prompt=not train) for c in chats]
    images = [to_pil(image) if isinstance(image, np.ndarray) else image for c in chats for image in _images(c)]
    batch = processor(text=texts, images=images or None, padding=True, padding_side="left", return_tensors="pt")
    if train:
        tokenizer = processor.tokenizer
        lengths = []
        for chat, text in zip(chats, texts, strict=True):
            answer = "".join(b["text"] for b in chat[-1]["content"] if b.get("type") == "text")
            tail = answer + "<|im_end|>\n"
            if not text.endswith(tail):
                raise ValueError(f"the chat template did not end the text with the answer: {text[-80:]!r}")
            lengths.append(len(tokenizer(tail, add_special_tokens=False)["input_ids"]))
        labels = batch["input_ids"].clone()
        labels[~answer_mask(batch["input_ids"], lengths)] = IGNORE_INDEX
        batch["labels"] = labels
    return dict(batch)
