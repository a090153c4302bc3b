"""Turn writers: the inverse of :mod:`vr_env.protocol.parsing`, for scripted agents and teachers.

>>> text = tool_turn("v1 blurry", "check later frames", {"TA": 1, "VQ": 2, "MQ": 0, "OA": 2}, 2, [12, 60])
>>> from vr_env.protocol.parsing import parse_turn
>>> turn = parse_turn(text)
>>> turn.format_ok, turn.answer.values, turn.answer.confidence, turn.tool_call.frames
(True, {'TA': 1, 'VQ': 2, 'MQ': 0, 'OA': 2}, 2, (12, 60))
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from vr_env.protocol.labels import LABEL_KEYS
from vr_env.protocol.parsing import TOOL_ARGUMENT, TOOL_NAME


def answer_text(values: Mapping[str, int], confidence: int | None = None) -> str:
    """``TA=1, VQ=0, MQ=2, OA=1`` (with ``, CF=c`` for a provisional answer)."""
    body = ", ".join(f"{k}={int(values[k])}" for k in LABEL_KEYS)
    return body + (f", CF={confidence}" if confidence is not None else "")


def tool_call_text(frames: Sequence[int]) -> str:
    """One ``select_frames`` call in the protocol's JSON form, with its tags."""
    call = json.dumps({"name": TOOL_NAME, "arguments": {TOOL_ARGUMENT: [int(f) for f in frames]}})
    return f"<tool_call>{call}</tool_call>"


def tool_turn(snapshot: str, think: str, values: Mapping[str, int], confidence: int, frames: Sequence[int]) -> str:
    """A well-formed turn: snapshot, reasoning, provisional answer with confidence, one tool call."""
    return (
        f"<Snapshot>{snapshot}</Snapshot>\n<Think>{think}</Think>\n"
        f"<Recommend Answer>{answer_text(values, confidence)}</Recommend Answer>\n{tool_call_text(frames)}"
    )


def final_turn(snapshot: str, think: str, values: Mapping[str, int]) -> str:
    """A well-formed final turn."""
    return f"<Snapshot>{snapshot}</Snapshot>\n<Think>{think}</Think>\n<Answer>{answer_text(values)}</Answer>"
