"""The SB3 wrapper: numeric action and observation spaces over ``VRJudgeEnv`` (see :mod:`agents.sb3`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, SupportsFloat, SupportsInt, cast

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from vr_env.config import EnvConfig
from vr_env.env import VRJudgeEnv
from vr_env.protocol.labels import LABEL_KEYS
from vr_env.protocol.writers import final_turn, tool_turn

#: ``action[0]`` value that answers now (``s >= 1`` fetches segment ``s``).
ANSWER_NOW = 0
#: Number of values of each answer component: 0 = tie, 1 = video 1, 2 = video 2.
ANSWER_VALUES = 3
#: Smallest image side SB3's ``NatureCNN`` accepts.
MIN_IMAGE_SIDE = 36

#: ``EnvConfig`` fields that decide K, the number of visible slots.
_SHAPE_KEYS = ("initial_frames", "max_frames_per_call", "memory_window", "frames_per_video")

Observation = dict[str, Any]  # numpy arrays keyed frames, frame_mask, budget, fetched


def sb3_observation_size(max_visible: int) -> tuple[int, int]:
    """Default thumbnail size for ``K`` visible slots: square, >= 36 and > 3K (a multiple of 8).

    >>> sb3_observation_size(16)
    (56, 56)
    """
    side = max(48, 8 * -(-(3 * max_visible + 1) // 8))
    return side, side


def segment_frame_ids(config: EnvConfig, segments: int) -> tuple[tuple[int, ...], ...]:
    """Frame ids fetched by each segment: matched positions in video 1 then video 2.

    Segment ``s`` (0-based) covers positions ``[s F / S, (s + 1) F / S)``; it asks for
    ``min(max_frames_per_call // 2, its length)`` positions at the centres of equal sub-parts.

    >>> segment_frame_ids(EnvConfig(), 4)[0]
    (2, 5, 8, 11, 50, 53, 56, 59)
    """
    spec = config.protocol
    f = spec.frames_per_video
    per_video = spec.max_frames_per_call // 2
    result = []
    for s in range(segments):
        lo, hi = s * f // segments, (s + 1) * f // segments
        count = min(per_video, hi - lo)
        positions = [lo + int((j + 0.5) * (hi - lo) / count) for j in range(count)]
        result.append(tuple(spec.frame_id(1, p) for p in positions) + tuple(spec.frame_id(2, p) for p in positions))
    return tuple(result)


class SB3JudgeWrapper(gym.Wrapper[Observation, np.ndarray, dict[str, Any], str]):
    """Numeric action and observation spaces over a ``VRJudgeEnv`` (see the module docstring).

    :param env: a ``VRJudgeEnv``, possibly wrapped (``gym.make("vr_env:VRJudge-v0", ...)``).
    :param segments: number of equal parts of the F candidate positions a fetch can target.
    :param confidence: the ``CF`` written in every provisional answer (1 high .. 3 low).
    :param slot_video: add the key ``slot_video`` ``MultiBinary(K)``: 1 where a slot shows a frame of
        video 2 (0 for video 1 or an empty slot), so an extractor can pool the slots of each video
        (:class:`agents.sb3.VideoPoolCNN`).
    """

    def __init__(self, env: gym.Env, segments: int = 4, confidence: int = 2, slot_video: bool = False) -> None:
        super().__init__(env)
        base = env.unwrapped
        if not isinstance(base, VRJudgeEnv):
            raise TypeError(f"SB3JudgeWrapper wraps a VRJudgeEnv, got {type(base).__name__}")
        config = base.config
        self.config = config
        k, (h, w) = base.max_visible, config.observation_size
        problems = []
        if not 1 <= segments <= config.frames_per_video:
            problems.append(f"segments must lie in 1..frames_per_video={config.frames_per_video}, got {segments}")
        if config.max_frames_per_call < 2:
            problems.append(f"max_frames_per_call must be >= 2 (one frame per video), got {config.max_frames_per_call}")
        if confidence not in (1, 2, 3):
            problems.append(f"confidence must be 1, 2 or 3, got {confidence}")
        if min(h, w) < MIN_IMAGE_SIDE or 3 * k >= min(h, w):
            problems.append(
                f"observation_size {(h, w)} must have sides >= {MIN_IMAGE_SIDE} (NatureCNN) and > 3K = {3 * k} "
                f"(SB3 reads the smallest axis as channels); e.g. observation_size={sb3_observation_size(k)}"
            )
        if problems:
            raise ValueError("invalid SB3JudgeWrapper setup: " + "; ".join(problems))
        self.segments = int(segments)
        self.confidence = int(confidence)
        self.segment_frames = segment_frame_ids(config, self.segments)
        self.action_space = spaces.MultiDiscrete([1 + self.segments] + [ANSWER_VALUES] * len(LABEL_KEYS))
        self.slot_video = bool(slot_video)
        keys: dict[str, spaces.Space[Any]] = {
            "frames": spaces.Box(0, 255, (h, w, 3 * k), dtype=np.uint8),
            "frame_mask": spaces.MultiBinary(k),
            "budget": spaces.MultiDiscrete([config.max_turns + 1, config.max_tool_calls + 1]),
            "fetched": spaces.MultiBinary(self.segments),
        }
        if self.slot_video:
            keys["slot_video"] = spaces.MultiBinary(k)
        self.observation_space = spaces.Dict(keys)
        self._turn = 0
        self._calls = 0
        self._fetched = np.zeros(self.segments, dtype=np.int8)
        self._visible: list[int] = []

    @property
    def calls_left(self) -> int:
        return self.config.max_tool_calls - self._calls

    def can_fetch(self) -> bool:
        """A tool call is left and this is not the last allowed turn."""
        return self.calls_left > 0 and self._turn + 1 < self.config.max_turns

    def action_text(self, action: Sequence[SupportsInt] | np.ndarray) -> str:
        """The protocol turn an action stands for, given the episode's state (budget rule applied)."""
        values = np.asarray(action, dtype=np.int64).reshape(-1)
        if values.shape != self.action_space.shape or not self.action_space.contains(values):
            raise ValueError(f"action must be in {self.action_space}, got {values.tolist()}")
        choice = int(values[0])
        answer = {key: int(v) for key, v in zip(LABEL_KEYS, values[1:], strict=True)}
        seen = ", ".join(str(f) for f in self._visible) or "none"
        snapshot = f"Visible frames: {seen}."
        if choice != ANSWER_NOW and self.can_fetch():
            frames = self.segment_frames[choice - 1]
            think = f"Policy action: fetch segment {choice} of {self.segments} in both videos."
            return tool_turn(snapshot, think, answer, self.confidence, frames)
        if choice != ANSWER_NOW:
            think = "Policy action: fetch, but no tool call is left, so this is the final answer."
        else:
            think = "Policy action: answer now."
        return final_turn(snapshot, think, answer)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Observation, dict]:
        obs, info = self.env.reset(seed=seed, options=options)
        self._fetched = np.zeros(self.segments, dtype=np.int8)
        return self._observe(obs, info), info

    def step(self, action: np.ndarray) -> tuple[Observation, SupportsFloat, bool, bool, dict[str, Any]]:
        text = self.action_text(action)
        fetching = "<tool_call>" in text
        judge = cast("gym.Env[dict[str, Any], str]", self.env)  # Gymnasium types ``env`` with the outer spaces
        obs, reward, terminated, truncated, info = judge.step(text)
        if fetching and info.get("invalid_reason") is None and info.get("env_error") is None:
            self._fetched[int(np.asarray(action).reshape(-1)[0]) - 1] = 1
        info["action_text"] = text
        return self._observe(obs, info), reward, terminated, truncated, info

    def _observe(self, obs: Mapping[str, Any], info: Mapping[str, Any]) -> Observation:
        self._turn, self._calls = int(info["turn"]), int(info["tool_calls"])
        frames = np.asarray(obs["frames"], dtype=np.uint8)
        k, h, w, _ = frames.shape
        mask = np.asarray(obs["frame_mask"], dtype=np.int8)
        self._visible = [int(f) for f, m in zip(obs["frame_ids"], mask, strict=True) if m]
        observation = {
            "frames": np.ascontiguousarray(frames.transpose(1, 2, 0, 3).reshape(h, w, 3 * k)),
            "frame_mask": mask.copy(),
            "budget": np.array([min(self._turn, self.config.max_turns), max(self.calls_left, 0)], dtype=np.int64),
            "fetched": self._fetched.copy(),
        }
        if self.slot_video:
            ids = np.asarray(obs["frame_ids"], dtype=np.int64)
            f = self.config.frames_per_video
            observation["slot_video"] = ((ids > f) & (mask > 0)).astype(np.int8)
        return observation


def make_sb3_env(
    segments: int = 4,
    confidence: int = 2,
    slot_video: bool = False,
    observation_size: tuple[int, int] | None = None,
    render_mode: str | None = None,
    **env_kwargs: Any,
) -> SB3JudgeWrapper:
    """A ``VRJudgeEnv`` (``env_kwargs`` are its arguments) wrapped by :class:`SB3JudgeWrapper`.

    ``observation_size=None`` picks :func:`sb3_observation_size` for the env's K visible slots.
    """
    if observation_size is None:
        base = env_kwargs.get("config") or EnvConfig()
        probe = dataclasses.replace(base, **{k: env_kwargs[k] for k in _SHAPE_KEYS if k in env_kwargs})
        observation_size = sb3_observation_size(probe.max_visible_frames)
    env = VRJudgeEnv(render_mode=render_mode, observation_size=tuple(observation_size), **env_kwargs)
    return SB3JudgeWrapper(env, segments=segments, confidence=confidence, slot_video=slot_video)
