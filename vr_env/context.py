"""The judge's context: the env's single source of truth for what the model sees.

:func:`to_chat_messages` is the ONE place that turns a :class:`Context` into Hugging Face chat
messages; agents, the rollout engine and trainers all call it instead of rebuilding prompts.

>>> import numpy as np
>>> ctx = Context([ContextTurn("system", "rules"), ContextTurn("user", "look:", (FrameImage(3, 1, 2, "Frame 3:", np.zeros((28, 28, 3), np.uint8)),))])
>>> [m["role"] for m in to_chat_messages(ctx)], [c["type"] for c in to_chat_messages(ctx)[1]["content"]]
(['system', 'user'], ['text', 'text', 'image'])
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np

from vr_env.protocol.prompts import EVICTED_IMAGE_TEXT

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class FrameImage:
    """One shown frame: its 1-based id, video (1 or 2), candidate position, label and pixels."""

    frame_id: int
    video: int
    position: int
    label: str
    image: np.ndarray = field(repr=False, compare=False)


@dataclass(frozen=True)
class ContextTurn:
    """One chat turn. ``frames`` follow the text; ``evicted`` frames are replaced by text."""

    role: Role
    text: str
    frames: tuple[FrameImage, ...] = ()
    tool_round: int | None = None
    evicted: bool = False

    @property
    def visible_frames(self) -> tuple[FrameImage, ...]:
        return () if self.evicted else self.frames


@dataclass
class Context:
    """The ordered turns of one episode as the model sees them now."""

    turns: list[ContextTurn] = field(default_factory=list)

    def __iter__(self) -> Iterator[ContextTurn]:
        return iter(self.turns)

    def __len__(self) -> int:
        return len(self.turns)

    def visible_frames(self) -> list[FrameImage]:
        """Frames whose images are in context, in order of appearance."""
        return [f for t in self.turns for f in t.visible_frames]

    def visible_frame_ids(self) -> list[int]:
        return [f.frame_id for f in self.visible_frames()]

    def images(self) -> list[np.ndarray]:
        """The visible images in the order :func:`to_chat_messages` places them."""
        return [f.image for f in self.visible_frames()]

    def copy(self) -> Context:
        return Context(list(self.turns))

    def evict(self, keep: Any) -> None:
        """Mark turns evicted whose ``tool_round`` fails ``keep(tool_round)``."""
        self.turns = [
            replace(t, evicted=True) if t.frames and not t.evicted and not keep(t.tool_round) else t for t in self.turns
        ]


def _to_pil(image: np.ndarray) -> Any:
    from PIL import Image

    return Image.fromarray(np.ascontiguousarray(image))


def turn_content(turn: ContextTurn, image_format: Literal["pil", "array"] = "pil") -> list[dict[str, Any]]:
    """Content blocks of one turn: its text, then each frame's label and image (or eviction text)."""
    content: list[dict[str, Any]] = [{"type": "text", "text": turn.text}]
    for frame in turn.frames:
        if turn.evicted:
            content.append({"type": "text", "text": f"\n{frame.label} {EVICTED_IMAGE_TEXT}"})
        else:
            image = _to_pil(frame.image) if image_format == "pil" else frame.image
            content.append({"type": "text", "text": f"\n{frame.label}"})
            content.append({"type": "image", "image": image})
    return content


def to_chat_messages(context: Context, image_format: Literal["pil", "array"] = "pil") -> list[dict[str, Any]]:
    """Chat messages for Hugging Face processors: ``[{"role", "content": [blocks]}]``.

    Every message's content is a list (text blocks and image blocks), which is what
    ``processor.apply_chat_template`` and TRL's multimodal helpers expect.
    """
    return [{"role": t.role, "content": turn_content(t, image_format)} for t in context.turns]
