"""Scripted episodes shared by the protocol-template tests, and a JSON-able view of chat messages.

An image block is described by its size and its first pixel's brightness (the test clips are flat
images whose brightness names the frame), a video block by the list of those; texts are kept whole.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vr_env.context import to_chat_messages
from vr_env.env import VRJudgeEnv
from vr_env.protocol.writers import final_turn, tool_turn

VALUES = {"TA": 1, "VQ": 2, "MQ": 0, "OA": 1}


def _pixel(image: Any) -> int:
    return int(np.asarray(image)[0, 0, 0])


def describe(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages with images replaced by ``{"type": "image", "pixel": p, "size": [w, h]}``."""
    out = []
    for message in messages:
        blocks = []
        for block in message["content"]:
            if block["type"] == "text":
                blocks.append({"type": "text", "text": block["text"]})
            elif block["type"] == "image":
                blocks.append({"type": "image", "pixel": _pixel(block["image"]), "size": list(block["image"].size)})
            else:
                blocks.append({"type": "video", "pixels": [_pixel(frame) for frame in block["video"]]})
        out.append({"role": message["role"], "content": blocks})
    return out


def three_tool_calls(env: VRJudgeEnv) -> list[dict[str, Any]]:
    """Pair 0: fetch [1, 2, 60], then [50, 60], then [5] (each evicting the one before), then answer."""
    env.reset(seed=0, options={"pair_index": 0})
    env.step(tool_turn("v1 sharp", "check the start", VALUES, 2, [1, 2, 60]))
    env.step(tool_turn("v2 blurs", "check the middle", VALUES, 2, [50, 60]))
    env.step(tool_turn("v2 jitters", "one more", VALUES, 1, [5]))
    env.step(final_turn("v1 wins", "done", VALUES))
    return describe(to_chat_messages(env.context))


def broken_turns(env: VRJudgeEnv) -> list[dict[str, Any]]:
    """Pair 1: out-of-range frames, too many frames, no answer, an incomplete final answer (truncated)."""
    env.reset(seed=0, options={"pair_index": 1})
    env.step(tool_turn("s", "t", VALUES, 2, [0, 97]))
    env.step(tool_turn("s", "t", VALUES, 2, list(range(1, 10))))
    env.step("I think video 1 is better.")
    env.step("<Snapshot>s</Snapshot><Think>t</Think><Answer>TA=1, OA=1</Answer>")
    return describe(to_chat_messages(env.context))


#: A non-default configuration: every number in the texts differs from the paper's.
SMALL = {"frames_per_video": 10, "initial_frames": 4, "max_frames_per_call": 3, "max_tool_calls": 2, "memory_window": 2}


def small_config(env: VRJudgeEnv) -> list[dict[str, Any]]:
    """Pair 2 under :data:`SMALL`: one call for frames 2 and 15."""
    env.reset(seed=0, options={"pair_index": 2})
    env.step(tool_turn("s", "t", VALUES, 3, [2, 15]))
    return describe(to_chat_messages(env.context))
