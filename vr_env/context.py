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
from string import Template
from typing import Any, Literal

import numpy as np

from vr_env.protocol.template import builtin_template

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


_DEFAULT_TEXTS = builtin_template("default").texts


@dataclass(frozen=True)
class ChatStyle:
    """How :func:`to_chat_messages` renders frames (``EnvConfig`` switches; defaults = this package's protocol).

    ``shown_frame`` / ``evicted_frame`` are the protocol template's texts of those names, filled with
    ``label``, ``frame_id``, ``video`` and ``position`` (1-based).
    """

    frame_labels: bool = True
    initial_frames_input: Literal["images", "video"] = "images"
    initial_frames_position: Literal["after_text", "before_text"] = "after_text"
    eviction: Literal["text", "silent"] = "text"
    shown_frame: str = _DEFAULT_TEXTS["shown_frame"]
    evicted_frame: str = _DEFAULT_TEXTS["evicted_frame"]

    def frame_text(self, which: Literal["shown_frame", "evicted_frame"], frame: FrameImage) -> str:
        values = {
            "label": frame.label,
            "frame_id": frame.frame_id,
            "video": frame.video,
            "position": frame.position + 1,
        }
        return Template(getattr(self, which)).substitute(values)


@dataclass
class Context:
    """The ordered turns of one episode as the model sees them now, and how they are rendered."""

    turns: list[ContextTurn] = field(default_factory=list)
    style: ChatStyle = field(default_factory=ChatStyle)

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
        """The images of image blocks, in the order :func:`to_chat_messages` places them."""
        video = self.style.initial_frames_input == "video"
        return [f.image for t in self.turns if not (video and _is_initial(t)) for f in t.visible_frames]

    def videos(self) -> list[list[np.ndarray]]:
        """The frame lists of video blocks (the initial frames when they are one video input)."""
        if self.style.initial_frames_input != "video":
            return []
        return [[f.image for f in t.visible_frames] for t in self.turns if _is_initial(t) and t.visible_frames]

    def copy(self) -> Context:
        return Context(list(self.turns), self.style)

    def evict(self, keep: Any) -> None:
        """Mark turns evicted whose ``tool_round`` fails ``keep(tool_round)``."""
        self.turns = [
            replace(t, evicted=True) if t.frames and not t.evicted and not keep(t.tool_round) else t for t in self.turns
        ]


def _to_pil(image: np.ndarray) -> Any:
    from PIL import Image

    return Image.fromarray(np.ascontiguousarray(image))


def _is_initial(turn: ContextTurn) -> bool:
    """The first user turn's frames: the only frames outside a tool round."""
    return bool(turn.frames) and turn.tool_round is None


def _frame_blocks(turn: ContextTurn, style: ChatStyle, image_format: Literal["pil", "array"]) -> list[dict[str, Any]]:
    convert = _to_pil if image_format == "pil" else (lambda image: image)
    if turn.evicted:
        if style.eviction == "silent":
            return []
        texts = (style.frame_text("evicted_frame", f) for f in turn.frames)
        return [{"type": "text", "text": t} for t in texts if t]
    if style.initial_frames_input == "video" and _is_initial(turn):
        return [{"type": "video", "video": [convert(f.image) for f in turn.frames]}]
    blocks: list[dict[str, Any]] = []
    for frame in turn.frames:
        caption = style.frame_text("shown_frame", frame) if style.frame_labels else ""
        if caption:
            blocks.append({"type": "text", "text": caption})
        blocks.append({"type": "image", "image": convert(frame.image)})
    return blocks


def turn_content(
    turn: ContextTurn, image_format: Literal["pil", "array"] = "pil", style: ChatStyle | None = None
) -> list[dict[str, Any]]:
    """Content blocks of one turn: its text and its frames' blocks, placed as ``style`` says."""
    style = style or ChatStyle()
    text: list[dict[str, Any]] = [{"type": "text", "text": turn.text}] if turn.text or not turn.frames else []
    frames = _frame_blocks(turn, style, image_format)
    if _is_initial(turn) and style.initial_frames_position == "before_text":
        return frames + text
    return text + frames


def to_chat_messages(context: Context, image_format: Literal["pil", "array"] = "pil") -> list[dict[str, Any]]:
    """Chat messages for Hugging Face processors: ``[{"role", "content": [blocks]}]``.

    Every message's content is a list of text, image and (when the initial frames are one video
    input) video blocks, which is what ``processor.apply_chat_template`` and TRL's multimodal
    helpers expect. A video block's ``video`` is the list of its frames.
    """
    return [{"role": t.role, "content": turn_content(t, image_format, context.style)} for t in context.turns]


def context_from_info(info: Any) -> Context:
    """``info["context"]``, or a clear error when the env was made with ``info_context=False``."""
    context = info.get("context") if hasattr(info, "get") else None
    if not isinstance(context, Context):
        raise ValueError(
            "info has no 'context': the environment was made with info_context=False, which leaves the "
            "windowed context out of info; agents that read the context need info_context=True (the default)"
        )
    return context
