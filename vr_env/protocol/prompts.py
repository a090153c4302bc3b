"""Every text the judge reads, rendered from the configured protocol template.

The wording lives in :mod:`vr_env.protocol.template` (the built-in ``default`` template or a TOML
file named by ``EnvConfig.protocol_template``); every number comes from
:class:`~vr_env.config.EnvConfig`. :class:`ProtocolTexts` binds a template to one configuration;
the module-level functions are shorthands for the configuration's own template.

>>> from vr_env.config import EnvConfig
>>> texts = ProtocolTexts(EnvConfig())
>>> texts.tool_result([3, 50], round_index=1, calls_left=2)
'Tool result 1: here are the selected frames 3, 50. 2 tool call(s) left.'
>>> texts.error(texts.too_many(9), calls_left=2, turns_left=3)
'Error: 9 frames requested; choose at most 8 frames per call. No frames were retrieved. 2 tool call(s) and 3 turn(s) left. Answer in the required format.'
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from vr_env.config import EnvConfig
from vr_env.protocol.labels import Dimension
from vr_env.protocol.parsing import TOOL_ARGUMENT, TOOL_NAME
from vr_env.protocol.template import ProtocolTemplate, TemplateError, load_template

#: Frames named in an out-of-range reason, at most.
MAX_LISTED_FRAMES = 8


def listed_frames(bad: Sequence[int]) -> str:
    """The first :data:`MAX_LISTED_FRAMES` bad frame numbers, each at most a few digits (a model may write 10**400)."""
    return ", ".join(
        str(i) if abs(i) < 10**12 else f"{'-' if i < 0 else ''}{str(abs(i))[:6]}..."
        for i in list(bad)[:MAX_LISTED_FRAMES]
    )


class ProtocolTexts:
    """The protocol template bound to one configuration: the texts of its episodes."""

    def __init__(self, config: EnvConfig, template: ProtocolTemplate | str | None = None) -> None:
        self.config = config
        self.template = load_template(config.protocol_template if template is None else template)
        spec = config.protocol
        self.numbers: dict[str, Any] = {
            "frames_per_video": spec.frames_per_video,
            "total_frames": spec.total_frames,
            "video_2_first": spec.frames_per_video + 1,
            "initial_frames": spec.initial_frames,
            "initial_per_video": spec.initial_frames // 2,
            "max_tool_calls": spec.max_tool_calls,
            "max_frames_per_call": spec.max_frames_per_call,
            "memory_window": spec.memory_window,
            "max_turns": spec.max_turns,
            "tool_name": TOOL_NAME,
            "tool_argument": TOOL_ARGUMENT,
        }
        self._schema = self._render_schema()

    def render(self, text_name: str, **values: Any) -> str:
        """Text ``text_name`` filled with the configuration's numbers and ``values``."""
        return self.template.render(text_name, **self.numbers, **values)

    def _render_schema(self) -> dict[str, Any]:
        text = self.render("tool_schema")
        where = f"protocol template {self.template.name!r}: text 'tool_schema'"
        try:
            schema = json.loads(text)
        except ValueError as exc:
            raise TemplateError(f"{where} is not valid JSON once filled ({exc})") from None
        function = schema.get("function", schema) if isinstance(schema, dict) else None
        if not isinstance(function, dict) or function.get("name") != TOOL_NAME:
            raise TemplateError(f"{where} must describe a function named {TOOL_NAME!r}")
        properties = function.get("parameters", {}).get("properties", {})
        if not isinstance(properties, dict) or TOOL_ARGUMENT not in properties:
            raise TemplateError(f"{where} must declare the argument {TOOL_ARGUMENT!r}")
        return schema

    # ------------------------------------------------------------------ first turns
    def tool_schema(self) -> dict[str, Any]:
        """The tool's JSON schema (a fresh copy)."""
        return json.loads(json.dumps(self._schema))

    def system(self) -> str:
        schema = json.dumps(self._schema)
        example = json.dumps({"name": TOOL_NAME, "arguments": {TOOL_ARGUMENT: self._example_frames()}})
        return self.render("system", tools=self.render("tools", tool_schema=schema), example_call=example)

    def _example_frames(self) -> list[int]:
        f = self.config.frames_per_video
        return [12, 24, f + 12, f + 24]

    def dimension_lines(self, dimensions: Sequence[Dimension]) -> str:
        lines = []
        for index, d in enumerate(dimensions, start=1):
            override = self.template.dimensions.get(d.key, {})
            name, explanation = override.get("name", d.name), override.get("explanation", d.explanation)
            lines.append(self.render("dimension", key=d.key, name=name, explanation=explanation, index=index))
        return "\n".join(lines)

    def user(self, prompt: str, dimensions: Sequence[Dimension]) -> str:
        """The first user turn's text (the initial frames are placed by the chat renderer)."""
        return self.render("user", prompt=prompt, dimensions=self.dimension_lines(dimensions))

    def frame_label(self, frame_id: int) -> str:
        video, position = self.config.protocol.locate(frame_id)
        return self.render("frame_label", frame_id=frame_id, video=video, position=position + 1)

    # ------------------------------------------------------------------ later turns
    def tool_result(self, frame_ids: Sequence[int], round_index: int, calls_left: int) -> str:
        left = self.render("calls_left", calls_left=calls_left) if calls_left else self.render("no_calls_left")
        listed = ", ".join(str(i) for i in frame_ids)
        return self.render(
            "tool_result", frame_ids=listed, round=round_index, calls_left=calls_left, calls_left_text=left
        )

    def error(self, reason: str, calls_left: int, turns_left: int) -> str:
        return self.render("error", reason=reason, calls_left=calls_left, turns_left=turns_left)

    def out_of_range(self, bad: Sequence[int]) -> str:
        listed = listed_frames(bad)
        return self.render("out_of_range", frames=listed, count=len(bad))

    def too_many(self, count: int) -> str:
        return self.render("too_many", count=count, limit=self.config.max_frames_per_call)

    def too_long(self, length: int) -> str:
        return self.render("too_long", length=length, limit=self.config.max_action_length)

    def incomplete_final(self, problems: Sequence[str]) -> str:
        return self.render("incomplete_final", problems="; ".join(problems))

    def bad_turn(self, problems: Sequence[str]) -> str:
        return self.render("bad_turn", problems="; ".join(problems) or "no answer and no tool call")

    def bad_call(self, problem: str) -> str:
        return self.render("bad_call", problem=problem)

    def frames_unreadable(self, error: object) -> str:
        return self.render("frames_unreadable", error=str(error))

    def plain(self, text_name: str) -> str:
        """A text without placeholders of its own: ``no_frames``, ``no_calls``, ``final``, ``truncated``."""
        return self.render(text_name)


# ---------------------------------------------------------------------- shorthands (the config's template)
def tool_schema(config: EnvConfig) -> dict:
    """JSON schema of the ``select_frames`` tool, as written into the system prompt."""
    return ProtocolTexts(config).tool_schema()


def system_prompt(config: EnvConfig) -> str:
    """Rules, answer format and the tool block."""
    return ProtocolTexts(config).system()


def frame_label(frame_id: int, config: EnvConfig) -> str:
    """How a frame is named next to its image, e.g. ``Frame 55 (video 2, #7):``."""
    return ProtocolTexts(config).frame_label(frame_id)


def initial_user_text(prompt: str, dimensions: Sequence[Dimension], config: EnvConfig) -> str:
    """The first user turn's text."""
    return ProtocolTexts(config).user(prompt, dimensions)


def tool_result_text(
    frame_ids: Sequence[int], round_index: int, calls_left: int, config: EnvConfig | None = None
) -> str:
    """The user turn that carries a tool result's frames."""
    return ProtocolTexts(config or EnvConfig()).tool_result(frame_ids, round_index, calls_left)


def error_text(reason: str, calls_left: int, turns_left: int, config: EnvConfig | None = None) -> str:
    """Feedback for a turn that broke the protocol; no frames are shown."""
    return ProtocolTexts(config or EnvConfig()).error(reason, calls_left, turns_left)


_DEFAULT = load_template("default")


def out_of_range_reason(bad: Sequence[int], n: int) -> str:
    """The default template's out-of-range reason for ``n`` frames."""
    listed = listed_frames(bad)
    return _DEFAULT.render("out_of_range", frames=listed, count=len(bad), total_frames=n)


def too_many_reason(count: int, limit: int) -> str:
    """The default template's too-many-frames reason."""
    return _DEFAULT.render("too_many", count=count, limit=limit, max_frames_per_call=limit)


EVICTED_IMAGE_TEXT = "[image no longer in memory]"
FINAL_TEXT = _DEFAULT.render("final")
TRUNCATED_TEXT = _DEFAULT.render("truncated")
