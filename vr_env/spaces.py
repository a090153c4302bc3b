"""Spaces that describe what the env really exchanges.

:class:`TextSpace` accepts any Unicode string up to ``max_length`` characters (Gymnasium's ``Text``
only allows a fixed character set). Its ``sample()`` draws adversarial protocol-like strings:
well-formed and broken tags, tool calls with valid, out-of-range and malformed frame lists, and
random Unicode. It is registered with Gymnasium's vector utilities, shared memory included, so
``AsyncVectorEnv`` works with its default settings.

>>> space = TextSpace(max_length=64, seed=0)
>>> space.contains("<Answer>OA=1</Answer>"), space.contains("x" * 65), space.contains(3)
(True, False, False)
>>> all(space.contains(space.sample()) for _ in range(100))
True
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Sequence as SequenceABC
from ctypes import c_int32
from multiprocessing.sharedctypes import SynchronizedArray
from types import ModuleType
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.vector.utils import (
    create_empty_array,
    create_shared_memory,
    read_from_shared_memory,
    write_to_shared_memory,
)

_FRAGMENTS = (
    "<Snapshot>",
    "</Snapshot>",
    "<Think>",
    "</Think>",
    "<think>",
    "<Answer>",
    "</Answer>",
    "<answer>",
    "<Recommend Answer>",
    "</Recommend Answer>",
    "<final answer>",
    "</final answer>",
    "<tool_call>",
    "</tool_call>",
    "TA=",
    "VQ=",
    "MQ=",
    "OA=",
    "CF=",
    " = ",
    ", ",
    "\n",
    '{"name": "select_frames", ',
    '"arguments": {"target_frames": [',
    "]}}",
    '{"name": "crop"}',
    "{",
    "}",
    "[",
    "]",
    "null",
    "1e9",
)


class TextSpace(spaces.Space[str]):
    """Any ``str`` of length ``min_length..max_length``."""

    def __init__(self, max_length: int = 16384, min_length: int = 0, seed: int | np.random.Generator | None = None):
        if not 0 <= min_length <= max_length:
            raise ValueError(f"need 0 <= min_length <= max_length, got {min_length}, {max_length}")
        self.max_length = int(max_length)
        self.min_length = int(min_length)
        super().__init__(dtype=str, seed=seed)

    def contains(self, x: Any) -> bool:
        return isinstance(x, str) and self.min_length <= len(x) <= self.max_length

    def sample(self, mask: Any = None, probability: Any = None) -> str:
        """An adversarial protocol-like string (drawn from this space's own ``np_random``)."""
        rng = self.np_random
        parts: list[str] = []
        for _ in range(int(rng.integers(0, 24))):
            kind = rng.random()
            if kind < 0.55:
                parts.append(_FRAGMENTS[int(rng.integers(len(_FRAGMENTS)))])
            elif kind < 0.8:
                parts.append(str(int(rng.integers(-5, 200))))
            else:
                codepoints = rng.integers(0x20, 0x2FFF, size=int(rng.integers(1, 8)))
                parts.append("".join(chr(int(c)) for c in codepoints if not 0xD800 <= c <= 0xDFFF))
        text = "".join(parts)[: self.max_length]
        return text + " " * max(0, self.min_length - len(text))

    @property
    def is_np_flattenable(self) -> bool:
        return False

    def __repr__(self) -> str:
        return f"TextSpace(max_length={self.max_length}, min_length={self.min_length})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TextSpace) and (self.max_length, self.min_length) == (
            other.max_length,
            other.min_length,
        )

    def to_jsonable(self, sample_n: Any) -> list[str]:
        return list(sample_n)

    def from_jsonable(self, sample_n: list[str]) -> list[str]:
        return list(sample_n)


@create_empty_array.register(TextSpace)
def _empty_text(space: TextSpace, n: int = 1, fn: Any = np.zeros) -> tuple[str, ...]:
    return tuple(" " * space.min_length for _ in range(n))


@create_shared_memory.register(TextSpace)
def _shared_text(space: TextSpace, n: int = 1, ctx: ModuleType = mp) -> SynchronizedArray[c_int32]:
    # One int32 code point per character; -1 ends a shorter text.
    return ctx.Array(np.dtype(np.int32).char, n * space.max_length)


@write_to_shared_memory.register(TextSpace)
def _write_text(space: TextSpace, index: int, value: str, shared_memory: SynchronizedArray[c_int32]) -> None:
    # Only the text and one -1 terminator are written (not the whole padded row): a step's text is
    # usually far shorter than max_length, and this runs in the worker on every step.
    size = space.max_length
    buffer = np.frombuffer(shared_memory.get_obj(), dtype=np.int32)  # type: ignore[call-overload]
    encoded = np.frombuffer(value.encode("utf-32-le"), dtype=np.int32)[:size]
    start = index * size
    buffer[start : start + encoded.size] = encoded
    if encoded.size < size:
        buffer[start + encoded.size] = -1


class SharedTexts(SequenceABC):
    """A live, read-only view of the texts in an ``AsyncVectorEnv`` shared buffer.

    Gymnasium reads the shared observation buffer once and keeps the result, which works for
    arrays (views) but would freeze strings; this view decodes on access. ``deepcopy`` (what
    ``AsyncVectorEnv(copy=True)`` does) returns a plain tuple of strings.
    """

    def __init__(self, data: np.ndarray):
        self._data = data

    def __len__(self) -> int:
        return len(self._data)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return tuple(self)[index]
        row = self._data[index]
        ends = np.flatnonzero(row < 0)  # the text ends at the first -1 (what follows is stale)
        end = int(ends[0]) if ends.size else row.size
        return row[:end].tobytes().decode("utf-32-le")

    def __deepcopy__(self, memo: dict) -> tuple[str, ...]:
        return tuple(self)

    def __repr__(self) -> str:
        return f"SharedTexts({tuple(self)!r})"


@read_from_shared_memory.register(TextSpace)
def _read_text(space: TextSpace, shared_memory: SynchronizedArray[c_int32], n: int = 1) -> SharedTexts:
    data = np.frombuffer(shared_memory.get_obj(), dtype=np.int32)  # type: ignore[call-overload]
    return SharedTexts(data.reshape((n, space.max_length)))


def observation_space(max_frames: int, size: tuple[int, int], total_frames: int, max_text: int) -> spaces.Dict:
    """``Dict(frames, frame_mask, frame_ids, text)``; ``frame_ids`` 0 marks an empty slot."""
    h, w = size
    return spaces.Dict(
        {
            "frames": spaces.Box(0, 255, shape=(max_frames, h, w, 3), dtype=np.uint8),
            "frame_mask": spaces.MultiBinary(max_frames),
            "frame_ids": spaces.Box(0, total_frames, shape=(max_frames,), dtype=np.int64),
            "text": TextSpace(max_length=max_text),
        }
    )
