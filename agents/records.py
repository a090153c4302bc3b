"""Rollout records: what was fed to the policy, what it sampled, and what the env answered.

One :class:`TurnRecord` per policy turn, one :class:`EpisodeRecord` per episode. These are the single
input format of SFT, rejection sampling and GRPO (docs/vlm.md): a turn's ``prompt_ids`` are exactly
the ids the completion was sampled from, its images are ``context.images()`` (the ``Context`` the
prompt was rendered from, by reference), and :func:`turn_model_inputs` rebuilds the model inputs of
a forward pass over prompt + completion from those alone, so a loss sees the sampled context.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vr_env.context import Context, to_chat_messages


@dataclass(frozen=True)
class FrameRef:
    """Where one prompt image came from: 1-based frame id, video (1/2), candidate position, size."""

    frame_id: int
    video: int
    position: int
    height: int
    width: int


@dataclass
class TurnRecord:
    """One policy turn.

    ``prompt_ids``: the unpadded ids the completion was conditioned on (chat template + expanded
    image placeholders). ``completion_ids``: the sampled ids, ending with the end-of-turn token when
    ``finish_reason == "stop"``. ``logprobs[i]``: ``log_softmax(raw_logits / temperature)`` of
    ``completion_ids[i]``. ``context``: the exact windowed context the prompt was rendered from (its
    visible images, in placeholder order, are the turn's images; ``image_grid_thw`` their patch grids).
    ``retokenized_exact``: whether the next turn's prompt contains ``completion_ids`` verbatim (``None``
    on the last turn or without ids). ``forced``: the ids were scripted, not sampled. Backends that do
    not expose ids (hosted chat APIs) leave the id and log-prob fields ``None``.
    """

    episode: int
    turn: int
    context: Context
    text: str
    prompt_ids: list[int] | None
    completion_ids: list[int] | None
    logprobs: list[float] | None
    image_grid_thw: np.ndarray | None
    temperature: float
    finish_reason: str
    reward: float = 0.0
    terminated: bool = False
    truncated: bool = False
    invalid_reason: str | None = None
    retokenized_exact: bool | None = None
    forced: bool = False

    @property
    def frames(self) -> tuple[FrameRef, ...]:
        """References of the prompt's images, in placeholder order."""
        return tuple(
            FrameRef(f.frame_id, f.video, f.position, int(f.image.shape[0]), int(f.image.shape[1]))
            for f in self.context.visible_frames()
        )

    def images(self) -> list[np.ndarray]:
        """The prompt's images (uint8 ``(H, W, 3)``), in placeholder order."""
        return self.context.images()

    def messages(self) -> list[dict[str, Any]]:
        """The prompt as chat messages (PIL images), via ``vr_env.context.to_chat_messages``."""
        return to_chat_messages(self.context)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary: ids, log-probs, frame references (no pixels), env feedback."""
        return {
            "episode": self.episode,
            "turn": self.turn,
            "text": self.text,
            "prompt_ids": self.prompt_ids,
            "completion_ids": self.completion_ids,
            "logprobs": self.logprobs,
            "frames": [vars(f) for f in self.frames],
            "image_grid_thw": None if self.image_grid_thw is None else np.asarray(self.image_grid_thw).tolist(),
            "temperature": self.temperature,
            "finish_reason": self.finish_reason,
            "reward": self.reward,
            "terminated": self.terminated,
            "truncated": self.truncated,
            "invalid_reason": self.invalid_reason,
            "retokenized_exact": self.retokenized_exact,
            "forced": self.forced,
        }


@dataclass
class EpisodeRecord:
    """One episode: its turns, the env's reward components and outcome.

    ``group`` indexes the GRPO group (episodes on the same pair); ``exploration`` is the group-level
    exploration bonus ``eta * max(omega - R, 0) * used_tool`` (spec section 3) and ``score`` the
    trajectory score ``return + exploration`` that group-normalized advantages are computed from.
    """

    episode: int
    group: int
    pair_index: int
    pair_id: str
    swapped: bool
    seed: int | None
    turns: list[TurnRecord] = field(default_factory=list)
    labels: dict[str, int | None] = field(default_factory=dict)
    final_answer: dict[str, int] | None = None
    reward_components: dict[str, float] = field(default_factory=dict)
    total_reward: float = 0.0
    used_tool: bool = False
    tool_calls: int = 0
    frames_fetched: int = 0
    invalid_turns: int = 0
    terminated: bool = False
    truncated: bool = False
    exploration: float = 0.0

    @property
    def done(self) -> bool:
        return self.terminated or self.truncated

    @property
    def score(self) -> float:
        return self.total_reward + self.exploration

    @property
    def correct(self) -> bool:
        """Every labelled key of the final answer matches (the rejection-sampling filter)."""
        if self.final_answer is None:
            return False
        labelled = {k: v for k, v in self.labels.items() if v is not None}
        return bool(labelled) and all(self.final_answer.get(k) == v for k, v in labelled.items())

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in vars(self).items() if k != "turns"}
        return {**data, "score": self.score, "correct": self.correct, "turns": [t.to_dict() for t in self.turns]}


def save_jsonl(episodes: Iterable[EpisodeRecord], path: str | Path) -> Path:
    """Write one JSON line per episode (ids, log-probs, frame references; no pixels)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for episode in episodes:
            handle.write(json.dumps(episode.to_dict()) + "\n")
    return path


def contains_run(haystack: Sequence[int], needle: Sequence[int]) -> bool:
    """Whether ``needle`` occurs as a contiguous run in ``haystack``.

    >>> contains_run([1, 2, 3, 4], [2, 3]), contains_run([1, 2, 3], [3, 2])
    (True, False)
    """
    n = len(needle)
    if n == 0:
        return True
    first = needle[0]
    return any(haystack[i] == first and list(haystack[i : i + n]) == list(needle) for i in range(len(haystack) - n + 1))


def turn_model_inputs(
    turns: Sequence[TurnRecord], processor: Any, device: Any = None, dtype: Any = None
) -> dict[str, Any]:
    """Model inputs of a forward pass over each turn's ``prompt_ids + completion_ids``, left-padded.

    Pixel values are recomputed from the recorded images with ``processor.image_processor``; the
    grids must equal the recorded ``image_grid_thw`` (checked). ``mm_token_type_ids`` marks image
    placeholder ids (Qwen-VL needs it for its 3-D positions).
    """
    import torch

    if not turns:
        raise ValueError("no turns to build inputs for")
    if any(t.prompt_ids is None or t.completion_ids is None for t in turns):
        raise ValueError("turn records without token ids (hosted backend?) cannot be replayed")
    if any(t.context.videos() for t in turns):
        raise ValueError("turns whose initial frames were one video input cannot be replayed; train with images")
    tokenizer = getattr(processor, "tokenizer", processor)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    sequences = [list(t.prompt_ids or []) + list(t.completion_ids or []) for t in turns]
    width = max(len(s) for s in sequences)
    input_ids = torch.full((len(turns), width), pad, dtype=torch.long)
    attention_mask = torch.zeros((len(turns), width), dtype=torch.long)
    for row, ids in enumerate(sequences):
        input_ids[row, width - len(ids) :] = torch.tensor(ids, dtype=torch.long)
        attention_mask[row, width - len(ids) :] = 1
    image_token_id = getattr(processor, "image_token_id", None)
    if image_token_id is None:
        image_token_id = tokenizer.convert_tokens_to_ids("<|image_pad|>")
    inputs: dict[str, Any] = {
        "input_ids": input_ids,
        "attention_mask": attention_mask,
        "mm_token_type_ids": (input_ids == image_token_id).long() * attention_mask,
    }
    images = [np.array(image) for t in turns for image in t.images()]  # cached frames are read-only
    if images:
        vision = processor.image_processor(images=images, return_tensors="pt")
        recorded = [
            np.asarray(t.image_grid_thw) for t in turns if t.image_grid_thw is not None and len(t.image_grid_thw)
        ]
        if recorded and not np.array_equal(np.concatenate(recorded), vision["image_grid_thw"].numpy()):
            raise ValueError("recomputed image grids differ from the recorded ones: processor settings changed?")
        inputs["pixel_values"] = vision["pixel_values"]
        inputs["image_grid_thw"] = vision["image_grid_thw"]
    if device is not None:
        inputs = {k: v.to(device) for k, v in inputs.items()}
    if dtype is not None and "pixel_values" in inputs:
        inputs["pixel_values"] = inputs["pixel_values"].to(dtype)
    return inputs
