"""Tolerant parsing of one model turn. ``parse_turn`` never raises, whatever the string.

Tags are matched case- and whitespace-insensitively; ``<Answer>`` and ``<Final Answer>`` both mean
the final answer; ``<synthesis>`` (the released code's name) means ``<Snapshot>``; answer keys may come in any order, separated by commas or spaces, with ``=`` or
``:``. Only the LAST ``<tool_call>`` of a turn counts.

>>> turn = parse_turn("<think>v1 sharper</think><answer>oa=1, TA = 1,VQ=1 ,MQ=0</answer>")
>>> turn.answer.kind, turn.answer.values["OA"], turn.answer.is_complete
('final', 1, True)
>>> parse_turn('<tool_call>{"name": "select_frames", "arguments": {"target_frames": [3, 50]}}</tool_call>').tool_call.frames
(3, 50)
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from vr_env.protocol.labels import LABEL_KEYS
from vr_env.protocol.tags import scan_tags

TOOL_NAME = "select_frames"
TOOL_ARGUMENT = "target_frames"

_PAIR = re.compile(r"\b(TA|VQ|MQ|OA|CF)\s*[=:]\s*([+-]?\w+)", re.IGNORECASE)

AnswerKind = Literal["final", "recommend"]


@dataclass(frozen=True)
class Answer:
    """A parsed answer. ``values`` holds only the keys with a valid value (0, 1 or 2)."""

    kind: AnswerKind
    values: dict[str, int]
    confidence: int | None = None
    problems: tuple[str, ...] = ()

    @property
    def is_complete(self) -> bool:
        """All of TA, VQ, MQ, OA present and valid (and CF for a recommended answer)."""
        has_all = all(k in self.values for k in LABEL_KEYS)
        needs_cf = self.kind == "recommend"
        return has_all and not self.problems and (self.confidence is not None or not needs_cf)

    def as_text(self) -> str:
        body = ", ".join(f"{k}={self.values[k]}" for k in LABEL_KEYS if k in self.values)
        return body + (f", CF={self.confidence}" if self.confidence is not None else "")


@dataclass(frozen=True)
class ToolCall:
    """The last tool call of a turn. ``error`` explains why it cannot be executed, if so."""

    raw: str
    name: str | None = None
    frames: tuple[int, ...] | None = None
    error: str | None = None


@dataclass(frozen=True)
class ParsedTurn:
    """Everything read from one model turn; ``format_problems`` lists every protocol deviation."""

    text: str
    snapshot: str | None = None
    think: str | None = None
    answer: Answer | None = None
    tool_call: ToolCall | None = None
    num_tool_calls: int = 0
    format_problems: tuple[str, ...] = field(default_factory=tuple)

    @property
    def format_ok(self) -> bool:
        return not self.format_problems


def _last(matches: list[str]) -> tuple[str | None, int]:
    return (matches[-1] if matches else None), len(matches)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a frame number")


def _loads(text: str) -> tuple[Any, str | None]:
    """``json.loads`` that never raises: ``(value, None)`` or ``(None, why)``.

    ``NaN`` / ``Infinity`` are refused; too deep nesting (``RecursionError``) and too long integers
    are errors like any other invalid JSON.
    """
    try:
        return json.loads(text, parse_constant=_reject_constant), None
    except (ValueError, RecursionError, OverflowError) as exc:
        return None, f"{type(exc).__name__}: {str(exc)[:80]}"


def parse_answer(body: str, kind: AnswerKind) -> Answer:
    """Read ``KEY=value`` pairs from an answer body."""
    values: dict[str, int] = {}
    confidence: int | None = None
    problems: list[str] = []
    seen: set[str] = set()
    for key_raw, value_raw in _PAIR.findall(body):
        key = key_raw.upper()
        if key in seen:
            problems.append(f"{key} given more than once")
        seen.add(key)
        try:
            value = int(value_raw)
        except ValueError:
            problems.append(f"{key}={value_raw} is not a number")
            continue
        if key == "CF":
            if value in (1, 2, 3):
                confidence = value
            else:
                problems.append(f"CF={value} must be 1, 2 or 3")
        elif value in (0, 1, 2):
            values[key] = value
        else:
            problems.append(f"{key}={value} must be 0 (tie), 1 (video 1) or 2 (video 2)")
    missing = [k for k in LABEL_KEYS if k not in seen]
    if missing:
        problems.append("missing " + ", ".join(missing))
    if kind == "recommend" and "CF" not in seen:
        problems.append("missing CF (confidence 1-3)")
    return Answer(kind=kind, values=values, confidence=confidence, problems=tuple(problems))


def _frames_from(value: Any) -> tuple[tuple[int, ...] | None, str | None]:
    if isinstance(value, str):
        decoded, error = _loads(value)
        if error is not None:
            return None, f'"{TOOL_ARGUMENT}" must be a list of frame numbers, got the string {value[:40]!r}'
        value = decoded
    if not isinstance(value, list):
        return None, f'"{TOOL_ARGUMENT}" must be a list of frame numbers'
    frames: list[int] = []
    for item in value:
        if isinstance(item, float) and math.isfinite(item) and item.is_integer():
            item = int(item)
        if isinstance(item, bool) or not isinstance(item, int):
            return None, f'"{TOOL_ARGUMENT}" must contain whole frame numbers, got {_preview(item)}'
        frames.append(item)
    return tuple(frames), None


def parse_tool_call(raw: str) -> ToolCall:
    """Parse the JSON inside one ``<tool_call>`` block."""
    payload, error = _loads(raw.strip())
    if error is not None:
        return ToolCall(raw=raw, error=f"the tool call is not valid JSON ({error})")
    if not isinstance(payload, dict):
        return ToolCall(raw=raw, error='the tool call must be a JSON object {"name": ..., "arguments": {...}}')
    name = payload.get("name")
    if not isinstance(name, str):
        return ToolCall(raw=raw, error='the tool call has no "name"')
    if name != TOOL_NAME:
        return ToolCall(raw=raw, name=name, error=f"unknown tool {name[:40]!r}; the only tool is {TOOL_NAME!r}")
    arguments = payload.get("arguments", payload.get("parameters"))
    if isinstance(arguments, str):
        arguments, _ = _loads(arguments)
    if not isinstance(arguments, dict) or TOOL_ARGUMENT not in arguments:
        return ToolCall(raw=raw, name=name, error=f'{TOOL_NAME} needs "arguments": {{"{TOOL_ARGUMENT}": [...]}}')
    frames, error = _frames_from(arguments[TOOL_ARGUMENT])
    return ToolCall(raw=raw, name=name, frames=frames, error=error)


def _preview(item: Any) -> str:
    """A short ``repr`` of a JSON value, safe for huge numbers and deep nesting."""
    if isinstance(item, int) and not isinstance(item, bool) and abs(item) >= 10**18:
        return f"a number of about {int(item.bit_length() * 0.30103) + 1} digits"
    if isinstance(item, (dict, list)):
        return f"a JSON {'object' if isinstance(item, dict) else 'list'}"
    return repr(str(item)[:20])


def parse_turn(text: str) -> ParsedTurn:
    """Parse one model turn. Never raises; every deviation is listed in ``format_problems``.

    Worst-case time is linear in ``len(text)`` (tags are found by :func:`~vr_env.protocol.tags.scan_tags`).
    """
    if not isinstance(text, str):
        return ParsedTurn(text=repr(text), format_problems=(f"the turn is not text but {type(text).__name__}",))
    try:
        return _parse_turn(text)
    except Exception as exc:  # a last guard: no model text may break an episode
        return ParsedTurn(text=text, format_problems=(f"the turn could not be read ({type(exc).__name__})",))


def _parse_turn(text: str) -> ParsedTurn:
    problems: list[str] = []
    tags = scan_tags(text)
    snapshot, n_snap = _last(tags.bodies("snapshot"))
    think, n_think = _last(tags.bodies("think"))
    if n_snap == 0:
        problems.append("missing <Snapshot>...</Snapshot>")
    if n_think == 0:
        problems.append("missing <Think>...</Think>")

    final_body, n_final = _last(tags.bodies("final"))
    rec_body, n_rec = _last(tags.bodies("recommend"))
    calls = tags.bodies("tool_call")
    unclosed = tags.first_open("tool_call")
    if not calls and unclosed is not None:
        problems.append("a <tool_call> is not closed with </tool_call>")
        calls = [text[unclosed:]]
    tool_call = parse_tool_call(calls[-1]) if calls else None

    answer: Answer | None = None
    if final_body is not None:
        answer = parse_answer(final_body, "final")
        if n_final > 1:
            problems.append("more than one final answer")
        if tool_call is not None:
            problems.append("a final answer must not come with a tool call")
        if n_rec:
            problems.append("a final answer must not come with a recommended answer")
    elif rec_body is not None:
        answer = parse_answer(rec_body, "recommend")
        if n_rec > 1:
            problems.append("more than one recommended answer")
        if tool_call is None:
            problems.append("a recommended answer must come with a tool call")
    elif tool_call is not None:
        problems.append("a tool call must come with a <Recommend Answer> (with CF)")
    else:
        problems.append("no answer and no tool call")
    if answer is not None:
        problems.extend(f"answer: {p}" for p in answer.problems)
    if len(calls) > 1:
        problems.append(f"{len(calls)} tool calls; only the last one is executed")
    if tool_call is not None and tool_call.error:
        problems.append(f"tool call: {tool_call.error}")
    return ParsedTurn(
        text=text,
        snapshot=snapshot.strip() if snapshot is not None else None,
        think=think.strip() if think is not None else None,
        answer=answer,
        tool_call=tool_call,
        num_tool_calls=len(calls),
        format_problems=tuple(problems),
    )
