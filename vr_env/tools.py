"""The ``select_frames`` tool: checks a parsed call against the episode's limits.

Rules (documented, deterministic): duplicate frame numbers are dropped keeping first occurrences;
any number outside ``1..N`` is an error; more than ``max_frames_per_call`` distinct frames is an
error (never a silent, random trim). A failed call returns an error reason and retrieves nothing.

>>> from vr_env.config import EnvConfig
>>> from vr_env.protocol.parsing import parse_tool_call
>>> select_frames(parse_tool_call('{"name": "select_frames", "arguments": {"target_frames": [5, 5, 90]}}'), EnvConfig())
Selection(frames=(5, 90), error=None)
>>> select_frames(parse_tool_call('{"name": "select_frames", "arguments": {"target_frames": [0]}}'), EnvConfig()).error
'frame(s) 0 do not exist; there are 96 frames numbered 1..96'
"""

from __future__ import annotations

from dataclasses import dataclass

from vr_env.config import EnvConfig
from vr_env.protocol.parsing import ToolCall
from vr_env.protocol.prompts import ProtocolTexts


@dataclass(frozen=True)
class Selection:
    """Frames to retrieve (1-based ids) or the reason the call failed."""

    frames: tuple[int, ...] = ()
    error: str | None = None


def select_frames(call: ToolCall, config: EnvConfig, texts: ProtocolTexts | None = None) -> Selection:
    """Validate a ``select_frames`` call; reasons are worded by ``texts`` (the config's template by default)."""
    texts = texts or ProtocolTexts(config)
    if call.error is not None or call.frames is None:
        return Selection(error=texts.bad_call(call.error or "the tool call could not be read"))
    frames = tuple(dict.fromkeys(call.frames))
    if not frames:
        return Selection(error=texts.plain("no_frames"))
    n = config.total_frames
    bad = [f for f in frames if not 1 <= f <= n]
    if bad:
        return Selection(error=texts.out_of_range(bad))
    if len(frames) > config.max_frames_per_call:
        return Selection(error=texts.too_many(len(frames)))
    return Selection(frames=frames)
