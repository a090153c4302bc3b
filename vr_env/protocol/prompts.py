"""Every text the judge reads: system prompt (rules and tool schema), first user turn, tool
results and error messages. One owner for the protocol's wording; every number comes from
:class:`~vr_env.config.EnvConfig`."""

from __future__ import annotations

import json
from collections.abc import Sequence

from vr_env.config import EnvConfig
from vr_env.protocol.labels import Dimension
from vr_env.protocol.parsing import TOOL_ARGUMENT, TOOL_NAME


def tool_schema(config: EnvConfig) -> dict:
    """JSON schema of the ``select_frames`` tool, as written into the system prompt."""
    n = config.total_frames
    return {
        "type": "function",
        "function": {
            "name": TOOL_NAME,
            "description": (
                f"Fetch up to {config.max_frames_per_call} frames by number to look at them closely. "
                f"Frames 1-{config.frames_per_video} are video 1, "
                f"{config.frames_per_video + 1}-{n} are video 2."
            ),
            "parameters": {
                "type": "object",
                "properties": {
                    TOOL_ARGUMENT: {
                        "type": "array",
                        "items": {"type": "integer", "minimum": 1, "maximum": n},
                        "maxItems": config.max_frames_per_call,
                        "description": "Frame numbers to retrieve.",
                    }
                },
                "required": [TOOL_ARGUMENT],
            },
        },
    }


def system_prompt(config: EnvConfig) -> str:
    """Rules, answer format and the tool schema (Qwen / Nous function-calling style)."""
    f, n = config.frames_per_video, config.total_frames
    return (
        "You are a careful video judge. You compare two videos generated from the same text prompt and "
        "decide which is better on each dimension and overall.\n\n"
        f"Each video has been sampled to {f} frames. All {n} frames share one numbering: frames 1-{f} "
        f"are video 1 and frames {f + 1}-{n} are video 2. You start with {config.initial_frames} frames "
        f"({config.initial_frames // 2} per video). You may call the tool at most {config.max_tool_calls} "
        f"times, at most {config.max_frames_per_call} frames per call. Only the images of the latest "
        f"{config.memory_window} tool result(s) stay visible; older ones are replaced by text, so write "
        "down what you saw.\n\n"
        "Every turn has this form:\n"
        "<Snapshot>visual facts worth remembering</Snapshot>\n"
        "<Think>your reasoning</Think>\n"
        "then EITHER a provisional answer with confidence and one tool call:\n"
        "<Recommend Answer>TA=1, VQ=1, MQ=0, OA=1, CF=2</Recommend Answer>\n"
        f'<tool_call>{{"name": "{TOOL_NAME}", "arguments": {{"{TOOL_ARGUMENT}": [12, 24, {f + 12}, {f + 24}]}}}}'
        "</tool_call>\n"
        "OR your final answer:\n"
        "<Answer>TA=1, VQ=1, MQ=0, OA=1</Answer>\n\n"
        "Values: 1 = video 1 is better, 2 = video 2 is better, 0 = tie. CF is your confidence: "
        "1 = high, 2 = medium, 3 = low. TA = text alignment, VQ = visual quality, MQ = motion quality, "
        "OA = overall.\n\n"
        "# Tools\n\nYou may call the function below. Its signature is inside <tools></tools>:\n"
        f"<tools>\n{json.dumps(tool_schema(config))}\n</tools>\n"
        "Return a call as a JSON object inside <tool_call></tool_call> tags."
    )


def frame_label(frame_id: int, config: EnvConfig) -> str:
    """How a frame is named next to its image, e.g. ``Frame 55 (video 2, #7):``."""
    video, position = config.protocol.locate(frame_id)
    return f"Frame {frame_id} (video {video}, #{position + 1}):"


def initial_user_text(prompt: str, dimensions: Sequence[Dimension], config: EnvConfig) -> str:
    """The first user turn's text, before the initial frames."""
    dims = "\n".join(f"- {d.key} ({d.name}): {d.explanation}" for d in dimensions)
    return (
        f"Text prompt: {prompt}\n\n"
        f"Dimensions:\n{dims}\n- OA (Overall): your overall preference.\n\n"
        f"There are {config.total_frames} frames numbered 1-{config.total_frames}. "
        f"Here are {config.initial_frames} evenly spaced frames:"
    )


def tool_result_text(frame_ids: Sequence[int], round_index: int, calls_left: int) -> str:
    """The user turn that carries a tool result's frames."""
    listed = ", ".join(str(i) for i in frame_ids)
    left = f"{calls_left} tool call(s) left." if calls_left else "No tool calls left: give your final answer."
    return f"Tool result {round_index}: here are the selected frames {listed}. {left}"


EVICTED_IMAGE_TEXT = "[image no longer in memory]"


def error_text(reason: str, calls_left: int, turns_left: int) -> str:
    """Feedback for a turn that broke the protocol; no frames are shown."""
    return (
        f"Error: {reason}. No frames were retrieved. {calls_left} tool call(s) and {turns_left} turn(s) left. "
        "Answer in the required format."
    )


def out_of_range_reason(bad: Sequence[int], n: int) -> str:
    listed = ", ".join(
        str(i) if abs(i) < 10**12 else f"{'-' if i < 0 else ''}{str(abs(i))[:6]}..." for i in list(bad)[:8]
    )
    return f"frame(s) {listed} do not exist; there are {n} frames numbered 1..{n}"


def too_many_reason(count: int, limit: int) -> str:
    return f"{count} frames requested; choose at most {limit} frames per call"


FINAL_TEXT = "Final answer received."
TRUNCATED_TEXT = "Turn limit reached; the last provisional answer is scored."
