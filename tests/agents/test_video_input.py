"""Initial frames as one video input (``initial_frames_input="video"``) through the backends."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from agents.backends import GenerationSettings
from agents.backends.openai_http import openai_messages
from agents.backends.transformers_backend import TransformersBackend, conversation_videos
from vr_env.context import to_chat_messages


def test_transformers_backend_feeds_the_video_before_the_text(tiny_backend: TransformersBackend, make_env: Any) -> None:
    env = make_env(initial_frames_input="video", initial_frames_position="before_text")
    _, info = env.reset(seed=0, options={"pair_index": 0})
    messages = to_chat_messages(info["context"])
    prompt = tiny_backend.render([messages])[0]
    user = prompt[prompt.index("<|im_start|>user") :]
    assert user.index("<|video_pad|>") < user.index("Text prompt") and "<|image_pad|>" not in user
    batch = tiny_backend.encode([messages])
    assert "pixel_values_videos" in batch and "pixel_values" not in batch
    generation = tiny_backend.generate([messages], GenerationSettings.greedy(max_new_tokens=3))[0]
    assert isinstance(generation.text, str) and generation.prompt_ids


def test_video_frames_of_different_sizes_are_a_clear_error() -> None:
    video = {"type": "video", "video": [np.zeros((28, 28, 3), np.uint8), np.zeros((56, 28, 3), np.uint8)]}
    with pytest.raises(ValueError, match="initial_frames_input='images'"):
        conversation_videos([{"role": "user", "content": [video]}])


def test_image_only_backends_name_the_switch() -> None:
    video = {"type": "video", "video": [np.zeros((28, 28, 3), np.uint8)]}
    with pytest.raises(ValueError, match="initial_frames_input='images'"):
        openai_messages([{"role": "user", "content": [video, {"type": "text", "text": "hi"}]}])
