"""The image and video payloads of a chat conversation, in the order the chat template places them."""

from __future__ import annotations

from typing import Any

import numpy as np

from agents.backends.base import Conversation


def conversation_images(conversation: Conversation) -> list[Any]:
    """The image payloads of a conversation, in the order the chat template places them."""
    images: list[Any] = []
    for message in conversation:
        content = message.get("content")
        if isinstance(content, list):
            images.extend(block["image"] for block in content if block.get("type") == "image")
    return images


def conversation_videos(conversation: Conversation) -> list[list[Any]]:
    """The video payloads (each a list of frames) of a conversation, in order.

    Video blocks appear when the env renders the initial frames as one video input
    (``EnvConfig.initial_frames_input = "video"``); a video's frames must share one size.
    """
    videos: list[list[Any]] = []
    for message in conversation:
        content = message.get("content")
        if isinstance(content, list):
            videos.extend(list(block["video"]) for block in content if block.get("type") == "video")
    for frames in videos:
        sizes = {tuple(np.asarray(frame).shape[:2]) for frame in frames}
        if len(sizes) > 1:
            raise ValueError(
                f"a video input's frames differ in size {sorted(sizes)}: the two videos of this pair have different "
                "resolutions; use initial_frames_input='images' for this dataset"
            )
    return videos


def no_videos(conversation: Conversation, backend: str) -> None:
    """Raise a clear error for a video block a backend cannot send."""
    if conversation_videos(conversation):
        raise ValueError(f"the {backend} backend sends images only; set initial_frames_input='images'")
