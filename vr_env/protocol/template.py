"""Protocol templates: every text the judge reads, as named texts with named placeholders.

A :class:`ProtocolTemplate` maps each text name of :data:`TEXTS` (system prompt, tool block, tool
schema, first user turn, dimension line, frame label, tool result, each error, eviction, ...) to a
:class:`string.Template` text (``$name`` or ``${name}``; ``$$`` is a literal ``$``). Each text may
use only the placeholders listed for it and must use its required ones; anything else is rejected
with a :class:`TemplateError` naming the text and the placeholder. The built-in ``default`` template
holds the package's own wording; :func:`load_template` also reads a TOML file (see docs/protocol.md).

>>> t = builtin_template("default")
>>> t.render("frame_label", frame_id=55, video=2, position=7)
'Frame 55 (video 2, #7):'
>>> ProtocolTemplate("bad", {**t.texts, "error": "Oops: $reason $because"})
Traceback (most recent call last):
...
vr_env.protocol.template.TemplateError: protocol template 'bad': text 'error' uses unknown placeholder $because; it may use $calls_left, $reason, $turns_left and the common ones ($frames_per_video, $initial_frames, $initial_per_video, $max_frames_per_call, $max_tool_calls, $max_turns, $memory_window, $tool_argument, $tool_name, $total_frames, $video_2_first)
"""

from __future__ import annotations

import functools
import hashlib
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

#: Placeholders every text may use: the protocol's numbers and the tool's names.
COMMON_PLACEHOLDERS: frozenset[str] = frozenset(
    {
        "frames_per_video",
        "total_frames",
        "video_2_first",
        "initial_frames",
        "initial_per_video",
        "max_tool_calls",
        "max_frames_per_call",
        "memory_window",
        "max_turns",
        "tool_name",
        "tool_argument",
    }
)


@dataclass(frozen=True)
class TextSpec:
    """What one protocol text is for, and the placeholders it must / may use besides the common ones."""

    help: str
    required: frozenset[str] = frozenset()
    optional: frozenset[str] = frozenset()

    @property
    def allowed(self) -> frozenset[str]:
        return COMMON_PLACEHOLDERS | self.required | self.optional


def _spec(help: str, required: tuple[str, ...] = (), optional: tuple[str, ...] = ()) -> TextSpec:
    return TextSpec(help, frozenset(required), frozenset(optional))


#: Every text of the protocol, in the order the judge meets them.
TEXTS: dict[str, TextSpec] = {
    "system": _spec("the system prompt", ("tools",), ("example_call",)),
    "tools": _spec("the tool block inserted as $tools", ("tool_schema",)),
    "tool_schema": _spec(
        "the tool's JSON schema (must be valid JSON naming the tool and its argument)", ("tool_name", "tool_argument")
    ),
    "user": _spec("the first user turn's text", ("prompt", "dimensions")),
    "dimension": _spec(
        "one line of $dimensions (lines are joined by newlines)", ("name",), ("key", "explanation", "index")
    ),
    "frame_label": _spec("a frame's label", ("frame_id",), ("video", "position")),
    "shown_frame": _spec(
        "text block before a shown image when frame labels are on", (), ("label", "frame_id", "video", "position")
    ),
    "evicted_frame": _spec(
        "text left for an evicted image (eviction = text)", (), ("label", "frame_id", "video", "position")
    ),
    "tool_result": _spec(
        "text of a tool result turn, before its images", (), ("frame_ids", "round", "calls_left", "calls_left_text")
    ),
    "calls_left": _spec("$calls_left_text while calls remain", (), ("calls_left",)),
    "no_calls_left": _spec("$calls_left_text after the last call"),
    "error": _spec("the user turn answering a rejected turn", ("reason",), ("calls_left", "turns_left")),
    "out_of_range": _spec("reason: frame numbers outside 1..N", (), ("frames", "count")),
    "too_many": _spec("reason: more frames than one call may fetch", (), ("count", "limit")),
    "no_frames": _spec("reason: a call listing no frames"),
    "no_calls": _spec("reason: a call after the last allowed one"),
    "too_long": _spec("reason: an over-long turn", (), ("length", "limit")),
    "incomplete_final": _spec("reason: a final answer missing keys", (), ("problems",)),
    "bad_turn": _spec("reason: a turn with neither a usable answer nor a call", (), ("problems",)),
    "bad_call": _spec("reason: a tool call that cannot be read", (), ("problem",)),
    "frames_unreadable": _spec("note: frames the data could not provide (not the judge's fault)", (), ("error",)),
    "final": _spec("observation text after the final answer"),
    "truncated": _spec("observation text when the turn limit ends the episode"),
}

# fmt: off
_DEFAULT_TEXTS: dict[str, str] = {
    "system": (
        "You are a careful video judge. You compare two videos generated from the same text prompt and "
        "decide which is better on each dimension and overall.\n\n"
        "Each video has been sampled to $frames_per_video frames. All $total_frames frames share one numbering: "
        "frames 1-$frames_per_video are video 1 and frames $video_2_first-$total_frames are video 2. You start "
        "with $initial_frames frames ($initial_per_video per video). You may call the tool at most $max_tool_calls "
        "times, at most $max_frames_per_call frames per call. Only the images of the latest $memory_window tool "
        "result(s) stay visible; older ones are replaced by text, so write down what you saw.\n\n"
        "Every turn has this form:\n"
        "<Snapshot>visual facts worth remembering</Snapshot>\n"
        "<Think>your reasoning</Think>\n"
        "then EITHER a provisional answer with confidence and one tool call:\n"
        "<Recommend Answer>TA=1, VQ=1, MQ=0, OA=1, CF=2</Recommend Answer>\n"
        "<tool_call>$example_call</tool_call>\n"
        "OR your final answer:\n"
        "<Answer>TA=1, VQ=1, MQ=0, OA=1</Answer>\n\n"
        "Values: 1 = video 1 is better, 2 = video 2 is better, 0 = tie. CF is your confidence: "
        "1 = high, 2 = medium, 3 = low. TA = text alignment, VQ = visual quality, MQ = motion quality, "
        "OA = overall.\n\n$tools"
    ),
    "tools": (
        "# Tools\n\nYou may call the function below. Its signature is inside <tools></tools>:\n"
        "<tools>\n$tool_schema\n</tools>\n"
        "Return a call as a JSON object inside <tool_call></tool_call> tags."
    ),
    "tool_schema": (
        '{"type": "function", "function": {"name": "$tool_name", "description": "Fetch up to $max_frames_per_call '
        'frames by number to look at them closely. Frames 1-$frames_per_video are video 1, '
        '$video_2_first-$total_frames are video 2.", "parameters": {"type": "object", "properties": '
        '{"$tool_argument": {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": $total_frames}, '
        '"maxItems": $max_frames_per_call, "description": "Frame numbers to retrieve."}}, '
        '"required": ["$tool_argument"]}}}'
    ),
    "user": (
        "Text prompt: $prompt\n\nDimensions:\n$dimensions\n- OA (Overall): your overall preference.\n\n"
        "There are $total_frames frames numbered 1-$total_frames. Here are $initial_frames evenly spaced frames:"
    ),
    "dimension": "- $key ($name): $explanation",
    "frame_label": "Frame $frame_id (video $video, #$position):",
    "shown_frame": "\n$label",
    "evicted_frame": "\n$label [image no longer in memory]",
    "tool_result": "Tool result $round: here are the selected frames $frame_ids. $calls_left_text",
    "calls_left": "$calls_left tool call(s) left.",
    "no_calls_left": "No tool calls left: give your final answer.",
    "error": (
        "Error: $reason. No frames were retrieved. $calls_left tool call(s) and $turns_left turn(s) left. "
        "Answer in the required format."
    ),
    "out_of_range": "frame(s) $frames do not exist; there are $total_frames frames numbered 1..$total_frames",
    "too_many": "$count frames requested; choose at most $limit frames per call",
    "no_frames": "no frames requested; list at least one frame number",
    "no_calls": "no tool calls left; give your final answer",
    "too_long": "the turn has $length characters; the limit is $limit",
    "incomplete_final": "the final answer is incomplete ($problems)",
    "bad_turn": "$problems",
    "bad_call": "$problem",
    "frames_unreadable": "the selected frames could not be read ($error)",
    "final": "Final answer received.",
    "truncated": "Turn limit reached; the last provisional answer is scored.",
}
# fmt: on


class TemplateError(ValueError):
    """A protocol template that cannot be used; the message names the template, text and placeholder."""


def _listed(names: frozenset[str] | set[str]) -> str:
    items = [f"${n}" for n in sorted(names)]
    return ", ".join(items) if items else "none"


@dataclass(frozen=True)
class ProtocolTemplate:
    """Named protocol texts (:data:`TEXTS`), checked on construction.

    ``dimensions`` optionally overrides a dimension's ``name`` / ``explanation`` by key (``TA``,
    ``VQ``, ``MQ``); otherwise the dataset's own dimension names and explanations are used.
    """

    name: str
    texts: Mapping[str, str]
    dimensions: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        where = f"protocol template {self.name!r}"
        missing = [t for t in TEXTS if t not in self.texts]
        if missing:
            raise TemplateError(f'{where}: missing text(s) {", ".join(missing)} (or set extends = "default")')
        unknown = sorted(set(self.texts) - set(TEXTS))
        if unknown:
            raise TemplateError(f"{where}: unknown text(s) {', '.join(unknown)}; known: {', '.join(TEXTS)}")
        for text_name, spec in TEXTS.items():
            _check_text(where, text_name, self.texts[text_name], spec)
        for key, override in self.dimensions.items():
            bad = set(override) - {"name", "explanation"}
            if bad or not all(isinstance(v, str) for v in override.values()):
                raise TemplateError(f"{where}: dimension {key!r} may set only text fields name and explanation")

    def render(self, text_name: str, **values: Any) -> str:
        """Fill text ``text_name`` with ``values`` (every placeholder it uses must be given)."""
        try:
            return Template(self.texts[text_name]).substitute(values)
        except KeyError as exc:
            raise TemplateError(
                f"protocol template {self.name!r}: text {text_name!r} needs ${exc.args[0]}, which was not given"
            ) from None

    @property
    def digest(self) -> str:
        """SHA-256 of the texts and dimension overrides: two templates with one digest read the same."""
        payload = json.dumps({"texts": dict(self.texts), "dimensions": self.dimensions}, sort_keys=True)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()

    def uses(self, text_name: str, placeholder: str) -> bool:
        return placeholder in placeholders(self.texts[text_name])


def placeholders(text: str) -> set[str]:
    """The placeholder names ``text`` uses; raises ``ValueError`` at a ``$`` that starts none."""
    names = set()
    for match in Template.pattern.finditer(text):
        if match.group("invalid") is not None:
            raise ValueError(f"a '$' at character {match.start('invalid')} starts no placeholder")
        name = match.group("named") or match.group("braced")
        if name is not None:
            names.add(name)
    return names


def _check_text(where: str, text_name: str, text: Any, spec: TextSpec) -> None:
    if not isinstance(text, str):
        raise TemplateError(f"{where}: text {text_name!r} must be a string, got {type(text).__name__}")
    try:
        used = placeholders(text)
    except ValueError as exc:
        raise TemplateError(f"{where}: text {text_name!r}: {exc} (write $$ for a literal '$')") from None
    unknown = sorted(used - spec.allowed)
    if unknown:
        raise TemplateError(
            f"{where}: text {text_name!r} uses unknown placeholder ${unknown[0]}; it may use "
            f"{_listed(spec.required | spec.optional)} and the common ones ({_listed(COMMON_PLACEHOLDERS)})"
        )
    missing = sorted(spec.required - used)
    if missing:
        raise TemplateError(f"{where}: text {text_name!r} must use placeholder ${missing[0]} ({spec.help})")


#: Built-in templates by name.
BUILTIN_TEMPLATES: dict[str, ProtocolTemplate] = {"default": ProtocolTemplate("default", _DEFAULT_TEXTS)}


def builtin_template(name: str) -> ProtocolTemplate:
    if name not in BUILTIN_TEMPLATES:
        raise TemplateError(f"unknown built-in protocol template {name!r}; built-in: {', '.join(BUILTIN_TEMPLATES)}")
    return BUILTIN_TEMPLATES[name]


def template_from_mapping(data: Mapping[str, Any], source: str) -> ProtocolTemplate:
    """A template from parsed TOML: ``name``, optional ``extends``, ``[texts]``, optional ``[dimensions.KEY]``."""
    unknown = sorted(set(data) - {"name", "extends", "texts", "dimensions"})
    if unknown:
        raise TemplateError(f"protocol template {source}: unknown key(s) {', '.join(unknown)}")
    texts = data.get("texts", {})
    if not isinstance(texts, Mapping):
        raise TemplateError(f"protocol template {source}: [texts] must be a table of strings")
    extends = data.get("extends")
    base = builtin_template(extends) if extends is not None else None
    merged = {**(base.texts if base else {}), **texts}
    dimensions = {**(base.dimensions if base else {}), **data.get("dimensions", {})}
    return ProtocolTemplate(str(data.get("name", source)), merged, dimensions)


def load_template(spec: str | ProtocolTemplate) -> ProtocolTemplate:
    """A built-in name (``default``) or a path to a ``.toml`` template file."""
    if isinstance(spec, ProtocolTemplate):
        return spec
    if spec in BUILTIN_TEMPLATES:
        return BUILTIN_TEMPLATES[spec]
    path = Path(spec)
    if path.suffix != ".toml":
        raise TemplateError(
            f"protocol template {spec!r} is neither a built-in ({', '.join(BUILTIN_TEMPLATES)}) nor a .toml file"
        )
    if not path.is_file():
        raise TemplateError(f"protocol template file {spec!r} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise TemplateError(f"protocol template file {spec!r} is not UTF-8 text: {exc}") from None
    return _parse_file(spec, text)


@functools.lru_cache(maxsize=32)
def _parse_file(path: str, text: str) -> ProtocolTemplate:
    """Parsed once per (path, content): an edited file is read afresh."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TemplateError(f"protocol template file {path!r} is not valid TOML: {exc}") from None
    return template_from_mapping(data, repr(path))
