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
from vr_env.protocol.labels import all_labelled_correct


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
    #: The env's list of protocol deviations of this turn (filled by replay; empty when well formed).
    format_problems: list[str] = field(default_factory=list)
    #: Frame references read from a JSONL line, before a replay rebuilds :attr:`context`.
    recorded_frames: tuple[FrameRef, ...] | None = None

    @property
    def has_context(self) -> bool:
        """Whether :attr:`context` holds the turn's real context (live, or rebuilt by a replay)."""
        return bool(self.context.turns)

    @property
    def frames(self) -> tuple[FrameRef, ...]:
        """References of the prompt's images, in placeholder order."""
        if not self.has_context and self.recorded_frames is not None:
            return self.recorded_frames
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
            "format_problems": list(self.format_problems),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TurnRecord:
        """A turn read back from :meth:`to_dict` output: no context until a replay rebuilds it."""
        grid = data.get("image_grid_thw")
        return cls(
            episode=int(data["episode"]),
            turn=int(data["turn"]),
            context=Context(),
            text=str(data["text"]),
            prompt_ids=_int_list(data.get("prompt_ids")),
            completion_ids=_int_list(data.get("completion_ids")),
            logprobs=None if data.get("logprobs") is None else [float(v) for v in data["logprobs"]],
            image_grid_thw=None if grid is None else np.asarray(grid, dtype=np.int64).reshape(-1, 3),
            temperature=float(data.get("temperature", 1.0)),
            finish_reason=str(data.get("finish_reason", "stop")),
            reward=float(data.get("reward", 0.0)),
            terminated=bool(data.get("terminated", False)),
            truncated=bool(data.get("truncated", False)),
            invalid_reason=data.get("invalid_reason"),
            retokenized_exact=data.get("retokenized_exact"),
            forced=bool(data.get("forced", False)),
            format_problems=[str(p) for p in data.get("format_problems") or []],
            recorded_frames=tuple(FrameRef(**{k: int(v) for k, v in f.items()}) for f in data.get("frames") or []),
        )


def _int_list(values: Any) -> list[int] | None:
    return None if values is None else [int(v) for v in values]


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
    #: The env's configuration (``EnvConfig.to_dict()``): with ``pair_index``, ``swapped`` and ``seed``
    #: everything needed to replay the episode and rebuild every context (``agents.replay``).
    env: dict[str, Any] | None = None
    #: Free provenance: teacher or checkpoint, sampling settings, acceptance decision...
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return self.terminated or self.truncated

    @property
    def score(self) -> float:
        return self.total_reward + self.exploration

    @property
    def correct(self) -> bool:
        """Every labelled key of the final answer matches (the rejection-sampling filter)."""
        return all_labelled_correct(self.final_answer, self.labels)

    @property
    def well_formed(self) -> bool:
        """Ended with a final answer, every turn followed the protocol, no turn hit the token limit."""
        return (
            self.terminated
            and self.invalid_turns == 0
            and self.reward_components.get("format", 0.0) == 1.0
            and all(t.finish_reason == "stop" and not t.format_problems for t in self.turns)
        )

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in vars(self).items() if k != "turns"}
        return {**data, "score": self.score, "correct": self.correct, "turns": [t.to_dict() for t in self.turns]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EpisodeRecord:
        """An episode read back from :meth:`to_dict` output (turns without contexts until replayed)."""
        answer = data.get("final_answer")
        return cls(
            episode=int(data["episode"]),
            group=int(data.get("group", 0)),
            pair_index=int(data["pair_index"]),
            pair_id=str(data["pair_id"]),
            swapped=bool(data.get("swapped", False)),
            seed=None if data.get("seed") is None else int(data["seed"]),
            turns=[TurnRecord.from_dict(t) for t in data.get("turns") or []],
            labels={str(k): None if v is None else int(v) for k, v in (data.get("labels") or {}).items()},
            final_answer=None if answer is None else {str(k): int(v) for k, v in answer.items()},
            reward_components={str(k): float(v) for k, v in (data.get("reward_components") or {}).items()},
            total_reward=float(data.get("total_reward", 0.0)),
            used_tool=bool(data.get("used_tool", False)),
            tool_calls=int(data.get("tool_calls", 0)),
            frames_fetched=int(data.get("frames_fetched", 0)),
            invalid_turns=int(data.get("invalid_turns", 0)),
            terminated=bool(data.get("terminated", False)),
            truncated=bool(data.get("truncated", False)),
            exploration=float(data.get("exploration", 0.0)),
            env=data.get("env"),
            meta=dict(data.get("meta") or {}),
        )


def save_jsonl(episodes: Iterable[EpisodeRecord], path: str | Path, *, append: bool = False) -> Path:
    """Write one JSON line per episode (ids, log-probs, frame references; no pixels), flushed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a" if append else "w", encoding="utf-8") as handle:
        for episode in episodes:
            handle.write(json.dumps(episode.to_dict(), default=_json_default) + "\n")
        handle.flush()
    return path


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


@dataclass
class LoadedRecords:
    """Episodes read from JSONL files and the lines that could not be read (``file:line: reason``)."""

    episodes: list[EpisodeRecord] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)


def trace_files(path: str | Path) -> list[Path]:
    """``path`` itself if it is a file, else every ``*.jsonl`` directly in the folder, sorted."""
    path = Path(path)
    if path.is_file():
        return [path]
    if path.is_dir():
        return sorted(p for p in path.glob("*.jsonl") if p.is_file())
    raise FileNotFoundError(f"trace path {path} does not exist")


def load_jsonl(path: str | Path) -> LoadedRecords:
    """Read episode records from a ``.jsonl`` file or every ``*.jsonl`` of a folder.

    A line that is not JSON or not an episode record is skipped and reported by file and line
    number in ``problems``; the good lines are kept.
    """
    loaded = LoadedRecords()
    for file in trace_files(path):
        loaded.files.append(str(file))
        with file.open(encoding="utf-8", errors="replace") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    data = json.loads(line)
                    if not isinstance(data, dict):
                        raise ValueError(f"expected a JSON object, got {type(data).__name__}")
                    loaded.episodes.append(EpisodeRecord.from_dict(data))
                except (ValueError, KeyError, TypeError) as error:
                    kind = "not JSON" if isinstance(error, json.JSONDecodeError) else "not an episode record"
                    loaded.problems.append(f"{file}:{number}: {kind} ({type(error).__name__}: {error})")
    return loaded


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
