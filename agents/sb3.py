"""Stable-Baselines3 path: ``VRJudgeSB3-v0``, the judging env with numeric spaces instead of text.

SB3 handles Box / Discrete / MultiDiscrete / MultiBinary and single-level Dict spaces, not text.
:class:`SB3JudgeWrapper` turns a ``VRJudgeEnv`` into such an env:

- **action** ``MultiDiscrete([1 + segments, 3, 3, 3, 3])``: ``[choice, TA, VQ, MQ, OA]``. ``choice``
  0 answers now; ``s`` in ``1..segments`` fetches segment ``s``: the F candidate positions are cut
  into ``segments`` equal parts and a fetch asks for ``max_frames_per_call // 2`` evenly spaced
  positions of that part (fewer if the part is shorter), in video 1 and at the same positions in
  video 2. The four value components
  are the protocol's values (0 = tie, 1 = video 1, 2 = video 2). Each action is rendered as a
  well-formed protocol turn (:meth:`SB3JudgeWrapper.action_text`): ``<Snapshot>`` / ``<Think>``, then
  either ``<Recommend Answer>...CF=c</Recommend Answer>`` plus a ``select_frames`` call, or
  ``<Answer>...</Answer>``.
- **budget rule**: a fetch chosen when no tool call is left (or on the last allowed turn) is
  rendered as the final answer with the same values, so the wrapper never produces an invalid turn
  and an SB3 agent never pays a format penalty.
- **observation** ``Dict``: ``frames`` ``Box(h, w, 3K) uint8`` (the K visible slots stacked on the
  channel axis, slot k in channels ``3k..3k+2``, zeros for empty slots), ``frame_mask``
  ``MultiBinary(K)``, ``budget`` ``MultiDiscrete([max_turns + 1, max_tool_calls + 1])`` (turns
  taken, tool calls left) and ``fetched`` ``MultiBinary(segments)`` (segments fetched so far).

``(h, w)`` is the env's ``observation_size``; SB3's ``NatureCNN`` needs ``h, w >= 36`` and its
channels-last test needs ``3K < min(h, w)``, so :func:`make_sb3_env` picks
:func:`sb3_observation_size` unless you pass one. :class:`SlotCNN` is a features extractor suited to
these observations; :data:`TOY_SETTINGS` are small settings for trying PPO (docs/sb3.md).

>>> env = make_sb3_env(frames_per_video=8, initial_frames=2, max_frames_per_call=2, max_tool_calls=1,
...                    segments=2, dataset_kwargs={"n": 4})
>>> obs, info = env.reset(seed=0)
>>> obs["frames"].shape, obs["frame_mask"].tolist(), obs["budget"].tolist()
((48, 48, 12), [1, 1, 0, 0], [0, 1])
>>> env.segment_frames  # action[0] = s fetches segment_frames[s - 1]
((3, 11), (7, 15))
>>> print(env.action_text([1, 0, 1, 0, 1]).splitlines()[-1])
<tool_call>{"name": "select_frames", "arguments": {"target_frames": [3, 11]}}</tool_call>
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any, SupportsFloat, SupportsInt, cast

import gymnasium as gym
import numpy as np
import torch as th
from gymnasium import spaces
from gymnasium.envs.registration import register, registry
from stable_baselines3.common.preprocessing import get_flattened_obs_dim, is_image_space_channels_first
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.common.utils import LinearSchedule
from torch import nn

from agents.baselines import final_turn, tool_turn
from vr_env.config import EnvConfig
from vr_env.data.records import LABEL_KEYS
from vr_env.env import VRJudgeEnv

#: ``action[0]`` value that answers now (``s >= 1`` fetches segment ``s``).
ANSWER_NOW = 0
#: Number of values of each answer component: 0 = tie, 1 = video 1, 2 = video 2.
ANSWER_VALUES = 3
#: Smallest image side SB3's ``NatureCNN`` accepts.
MIN_IMAGE_SIDE = 36

#: ``EnvConfig`` fields that decide K, the number of visible slots.
_SHAPE_KEYS = ("initial_frames", "max_frames_per_call", "memory_window", "frames_per_video")

Observation = dict[str, Any]  # numpy arrays keyed frames, frame_mask, budget, fetched
Predict = Callable[[Observation], Any]

#: Toy settings (``make_sb3_env`` keyword arguments, see benchmarks/sb3_toy.py). ``noise``: only noise
#: defects (VQ) over the whole clip, so the two initial frames always show them; TA = MQ = tie and
#: OA = VQ; PPO with :class:`SlotCNN` learns it in 10k steps. ``localized-noise``: one noise window of
#: 1/4 of the clip per noisy video; the initial frames touch about a quarter of the windows, the
#: initial frames plus both segments all of them (memory window = tool calls, so fetched frames stay
#: visible until the answer); PPO did not learn it within our budget (docs/sb3.md).
TOY_SETTINGS: dict[str, dict[str, Any]] = {
    "noise": {
        "dataset_kwargs": {
            "kinds": ["noise"],
            "defect_prob": {"VQ": 0.5},
            "defect_extent": 1.0,
            "num_frames": 16,
            "frames_per_video": 8,
            "initial_frames": 2,
            "height": 56,
            "width": 56,
        },
        "frames_per_video": 8,
        "initial_frames": 2,
        "max_frames_per_call": 2,
        "max_tool_calls": 0,
        "memory_window": 0,
        "observation_size": (36, 36),
        "segments": 1,
    },
    "localized-noise": {
        "dataset_kwargs": {
            "kinds": ["noise"],
            "defect_prob": {"VQ": 0.5},
            "defect_extent": 0.25,
            "num_frames": 16,
            "frames_per_video": 8,
            "initial_frames": 2,
            "height": 56,
            "width": 56,
        },
        "frames_per_video": 8,
        "initial_frames": 2,
        "max_frames_per_call": 4,
        "max_tool_calls": 2,
        "memory_window": 2,
        "observation_size": (36, 36),
        "segments": 2,
    },
}


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
    f = config.frames_per_video
    per_video = config.max_frames_per_call // 2
    result = []
    for s in range(segments):
        lo, hi = s * f // segments, (s + 1) * f // segments
        count = min(per_video, hi - lo)
        positions = [lo + int((j + 0.5) * (hi - lo) / count) for j in range(count)]
        result.append(tuple(p + 1 for p in positions) + tuple(p + 1 + f for p in positions))
    return tuple(result)


class SB3JudgeWrapper(gym.Wrapper[Observation, np.ndarray, dict[str, Any], str]):
    """Numeric action and observation spaces over a ``VRJudgeEnv`` (see the module docstring).

    :param env: a ``VRJudgeEnv``, possibly wrapped (``gym.make("vr_env:VRJudge-v0", ...)``).
    :param segments: number of equal parts of the F candidate positions a fetch can target.
    :param confidence: the ``CF`` written in every provisional answer (1 high .. 3 low).
    """

    def __init__(self, env: gym.Env, segments: int = 4, confidence: int = 2) -> None:
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
        self.observation_space = spaces.Dict(
            {
                "frames": spaces.Box(0, 255, (h, w, 3 * k), dtype=np.uint8),
                "frame_mask": spaces.MultiBinary(k),
                "budget": spaces.MultiDiscrete([config.max_turns + 1, config.max_tool_calls + 1]),
                "fetched": spaces.MultiBinary(self.segments),
            }
        )
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
        return {
            "frames": np.ascontiguousarray(frames.transpose(1, 2, 0, 3).reshape(h, w, 3 * k)),
            "frame_mask": mask.copy(),
            "budget": np.array([min(self._turn, self.config.max_turns), max(self.calls_left, 0)], dtype=np.int64),
            "fetched": self._fetched.copy(),
        }


def make_sb3_env(
    segments: int = 4,
    confidence: int = 2,
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
    return SB3JudgeWrapper(env, segments=segments, confidence=confidence)


class SlotCNN(BaseFeaturesExtractor):
    """Features extractor for the wrapper's ``Dict``: one small CNN shared by every frame slot.

    Each 3-channel slot of ``frames`` goes through ``3x3`` convolutions with ReLU (stride ``stride``),
    global average and max pooling, and a linear layer with ReLU; slot features are zeroed where
    ``frame_mask`` is 0 and concatenated in slot order with the other keys (flattened, as SB3
    preprocesses them). Pooled small-kernel responses measure texture statistics (noise, blur,
    blocking) directly; SB3's default ``NatureCNN`` (8x8 stride-4 kernels over all slots at once)
    did not learn the noise toy within our budget (docs/sb3.md). Use it with
    ``PPO("MultiInputPolicy", env, policy_kwargs={"features_extractor_class": SlotCNN})``.

    :param observation_space: the observation space (channels-last, or transposed by SB3).
    :param slot_features: features per slot.
    :param channels: output channels of each convolution.
    :param stride: stride of each convolution.
    """

    def __init__(
        self,
        observation_space: spaces.Dict,
        slot_features: int = 16,
        channels: Sequence[int] = (16,),
        stride: int = 2,
    ) -> None:
        frames = observation_space["frames"]
        assert isinstance(frames, spaces.Box) and len(frames.shape) == 3
        channels_first = is_image_space_channels_first(frames)
        slots = (frames.shape[0] if channels_first else frames.shape[-1]) // 3
        others = [key for key in observation_space.spaces if key != "frames"]
        extra = sum(get_flattened_obs_dim(observation_space[key]) for key in others)
        super().__init__(observation_space, features_dim=slots * slot_features + extra)
        self.channels_first = channels_first
        self.slots = slots
        self.others = others
        layers: list[nn.Module] = []
        previous = 3
        for out in channels:
            layers += [nn.Conv2d(previous, out, kernel_size=3, stride=stride), nn.ReLU()]
            previous = out
        self.convs = nn.Sequential(*layers)
        self.linear = nn.Sequential(nn.Linear(2 * previous, slot_features), nn.ReLU())

    def forward(self, observations: dict[str, th.Tensor]) -> th.Tensor:
        frames = observations["frames"]
        if not self.channels_first:
            frames = frames.permute(0, 3, 1, 2)
        batch, _, h, w = frames.shape
        maps = self.convs(frames.reshape(batch * self.slots, 3, h, w))
        pooled = th.cat([maps.mean(dim=(2, 3)), maps.amax(dim=(2, 3))], dim=1)
        features = self.linear(pooled).reshape(batch, self.slots, -1)
        if "frame_mask" in observations:
            features = features * observations["frame_mask"].reshape(batch, self.slots, 1)
        rest = [observations[key].reshape(batch, -1).float() for key in self.others]
        return th.cat([features.reshape(batch, -1), *rest], dim=1)


def toy_env_kwargs(name: str, n: int, seed: int) -> dict[str, Any]:
    """:func:`make_sb3_env` arguments of toy ``name`` (:data:`TOY_SETTINGS`) with ``n`` synthetic pairs
    of generator seed ``seed`` (train and held-out sets differ by seed)."""
    if name not in TOY_SETTINGS:
        raise ValueError(f"unknown toy {name!r}; choose one of {sorted(TOY_SETTINGS)}")
    base = TOY_SETTINGS[name]
    return {**base, "dataset_kwargs": {**base["dataset_kwargs"], "n": int(n), "seed": int(seed)}}


def toy_ppo_kwargs(extractor: str = "slot") -> dict[str, Any]:
    """PPO arguments used on the toys (benchmarks/sb3_toy.py): short rollouts, 10 epochs, a learning
    rate decaying linearly from 3e-3 to 3e-4, entropy bonus 0.01; ``extractor`` ``"slot"``
    (:class:`SlotCNN`) or ``"nature"`` (SB3's default ``CombinedExtractor`` with ``NatureCNN``)."""
    if extractor == "slot":
        policy_kwargs: dict[str, Any] = {"features_extractor_class": SlotCNN, "net_arch": [64]}
    elif extractor == "nature":
        policy_kwargs = {"features_extractor_kwargs": {"cnn_output_dim": 64}, "net_arch": [64]}
    else:
        raise ValueError(f"extractor must be 'slot' or 'nature', got {extractor!r}")
    return {
        "n_steps": 64,
        "batch_size": 64,
        "n_epochs": 10,
        "learning_rate": LinearSchedule(3e-3, 3e-4, 1.0),
        "ent_coef": 0.01,
        "policy_kwargs": policy_kwargs,
    }


def evaluate_judge(predict: Predict, env: SB3JudgeWrapper, pairs: int) -> dict[str, Any]:
    """Play pairs ``0..pairs-1`` of ``env``'s dataset (pinned, unswapped) with ``predict(obs) -> action``.

    Returns the mean episode return, per-key accuracy, mean tool calls and the answers' value counts.
    """
    if not 1 <= pairs <= len(env.unwrapped.dataset):  # type: ignore[attr-defined]
        raise ValueError(f"pairs must lie in 1..{len(env.unwrapped.dataset)}, got {pairs}")  # type: ignore[attr-defined]
    returns: list[float] = []
    hits = dict.fromkeys(LABEL_KEYS, 0)
    tool_calls = 0
    answered = {key: [0] * ANSWER_VALUES for key in LABEL_KEYS}
    for index in range(pairs):
        obs, info = env.reset(options={"pair_index": index})
        total, done = 0.0, False
        while not done:
            obs, reward, terminated, truncated, info = env.step(np.asarray(predict(obs)))
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
        tool_calls += int(info["tool_calls"])
        final = info["final_answer"] or {}
        for key in LABEL_KEYS:
            hits[key] += final.get(key) == info["labels"].get(key)
            if key in final:
                answered[key][final[key]] += 1
    return {
        "pairs": pairs,
        "return_mean": float(np.mean(returns)),
        "accuracy": {key: hits[key] / pairs for key in LABEL_KEYS},
        "tool_calls_mean": tool_calls / pairs,
        "answer_counts": answered,
    }


def random_policy(action_space: spaces.Space[Any], seed: int = 0) -> Predict:
    """Uniformly random actions from a seeded copy of a ``MultiDiscrete`` space (the random-answer reference)."""
    if not isinstance(action_space, spaces.MultiDiscrete):
        raise TypeError(f"random_policy needs a MultiDiscrete action space, got {action_space}")
    space = spaces.MultiDiscrete(action_space.nvec, seed=seed)
    return lambda obs: space.sample()


def constant_policy(action: Sequence[int]) -> Predict:
    """Always the same action, e.g. ``[0, 0, 0, 0, 0]`` (answer tie on every key at once)."""
    fixed = np.asarray(action, dtype=np.int64)
    return lambda obs: fixed


if "VRJudgeSB3-v0" not in registry:
    register(id="VRJudgeSB3-v0", entry_point="agents.sb3:make_sb3_env")

__all__ = [
    "ANSWER_NOW",
    "TOY_SETTINGS",
    "SB3JudgeWrapper",
    "SlotCNN",
    "constant_policy",
    "evaluate_judge",
    "make_sb3_env",
    "random_policy",
    "sb3_observation_size",
    "segment_frame_ids",
    "toy_env_kwargs",
    "toy_ppo_kwargs",
]
