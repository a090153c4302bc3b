"""Environment configuration: one dataclass with the paper's defaults (spec sections 2 and 3)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

from vr_env.protocol.frames import INITIAL_FRAME_RULES, InitialFrameRule, ProtocolSpec
from vr_env.protocol.template import TemplateError, load_template
from vr_env.video.resize import FACTOR

#: Qwen-VL pixel unit: one FACTOR x FACTOR patch (2x2 merged 14-px patches).
PATCH_PIXELS = FACTOR * FACTOR


@dataclass(frozen=True)
class RewardWeights:
    """Weights of the episode reward ``f = format + accuracy + cot_gain`` (spec section 3).

    ``alpha`` splits accuracy between the overall answer and the mean of the dimensions;
    ``cot_k`` scales the CoT gain (final minus first answer accuracy). ``invalid_turn_penalty`` is
    the reward of a step whose action broke the protocol (subtracted at once, see docs/rewards.md).
    ``exploration_omega`` and ``exploration_eta`` parametrize the group-level exploration term.
    """

    format: float = 1.0
    accuracy: float = 1.0
    cot_gain: float = 1.0
    alpha: float = 0.5
    cot_k: float = 0.2
    invalid_turn_penalty: float = 0.1
    exploration_omega: float = 0.2
    exploration_eta: float = 0.5
    overall_only: bool = False

    def __post_init__(self) -> None:
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"reward alpha must lie in [0, 1], got {self.alpha}")
        if self.invalid_turn_penalty < 0:
            raise ValueError(f"invalid_turn_penalty is a magnitude and must be >= 0, got {self.invalid_turn_penalty}")


REWARD_PRESETS: dict[str, RewardWeights] = {
    "paper": RewardWeights(),
    # Overall-only, binary correctness: what the official code trained with (spec section 7).
    "binary": RewardWeights(format=0.0, cot_gain=0.0, alpha=1.0, overall_only=True),
}


def reward_weights(spec: str | RewardWeights | dict[str, Any] | None) -> RewardWeights:
    """Resolve a preset name, a weights mapping (over the paper preset) or a ready object."""
    if spec is None:
        return REWARD_PRESETS["paper"]
    if isinstance(spec, RewardWeights):
        return spec
    if isinstance(spec, str):
        if spec not in REWARD_PRESETS:
            raise ValueError(f"unknown reward preset {spec!r}; choose one of {sorted(REWARD_PRESETS)} or pass weights")
        return REWARD_PRESETS[spec]
    if isinstance(spec, dict):
        base = dict(spec)
        preset = base.pop("preset", "paper")
        known = {f.name for f in fields(RewardWeights)}
        unknown = set(base) - known
        if unknown:
            raise ValueError(f"unknown reward weights {sorted(unknown)}; known: {sorted(known)}")
        return RewardWeights(**{**asdict(reward_weights(preset)), **base})
    raise TypeError(f"reward must be a preset name, a dict of weights or RewardWeights, got {type(spec).__name__}")


#: The structural switches of the protocol and their values (the first is the default).
SWITCHES: dict[str, tuple[Any, ...]] = {
    "initial_frame_rule": INITIAL_FRAME_RULES,
    "frame_labels": (True, False),
    "initial_frames_input": ("images", "video"),
    "initial_frames_position": ("after_text", "before_text"),
    "eviction": ("text", "silent"),
}


@dataclass(frozen=True)
class EnvConfig:
    """Everything that shapes an episode. Defaults follow the paper (N = 96, 8 initial frames, ...)."""

    dataset: str = "synthetic"
    data_root: str | None = None
    dataset_kwargs: dict[str, Any] = field(default_factory=dict)
    frames_per_video: int = 48
    initial_frames: int = 8
    max_frames_per_call: int = 8
    max_tool_calls: int = 3
    memory_window: int = 1
    initial_max_pixels: int = 512 * PATCH_PIXELS
    retrieved_max_pixels: int = 400 * PATCH_PIXELS
    min_pixels: int = 4 * PATCH_PIXELS
    observation_size: tuple[int, int] = (112, 112)
    max_action_length: int = 16384
    video_backend: str = "auto"
    reward: RewardWeights = field(default_factory=RewardWeights)
    # Protocol framing (docs/protocol.md): the defaults are this package's own protocol.
    protocol_template: str = field(
        default="default",
        metadata={"help": "every text the judge reads: a built-in template name (default) or a .toml file"},
    )
    initial_frame_rule: InitialFrameRule = field(
        default="segment_centres",
        metadata={"help": "initial frames: segment_centres (7, 19, ..., 91) or stride_from_first (1, 13, ..., 85)"},
    )
    frame_labels: bool = field(default=True, metadata={"help": "a text label before every shown frame image"})
    initial_frames_input: Literal["images", "video"] = field(
        default="images", metadata={"help": "initial frames as separate images, or as one video input"}
    )
    initial_frames_position: Literal["after_text", "before_text"] = field(
        default="after_text", metadata={"help": "initial frames after the first user text, or before_text"}
    )
    eviction: Literal["text", "silent"] = field(
        default="text", metadata={"help": "an evicted image leaves the template's text, or disappears (silent)"}
    )
    info_context: bool = field(
        default=True,
        metadata={
            "help": "put the full windowed context (every shown frame's pixels) in info['context']; "
            "false leaves it out, so vectorized RL workers do not send ~0.6 MB per step through a pipe"
        },
    )

    def __post_init__(self) -> None:
        from vr_env.config_types import type_problems

        if wrong := type_problems(self):  # before the range checks, which would fail on a str
            raise ValueError("invalid EnvConfig: " + "; ".join(wrong))
        problems = []
        for name, allowed in SWITCHES.items():
            if getattr(self, name) not in allowed:
                problems.append(f"{name} must be one of {', '.join(map(str, allowed))}, got {getattr(self, name)!r}")
        try:
            load_template(self.protocol_template)
        except TemplateError as exc:
            problems.append(str(exc))
        if self.frames_per_video < 1:
            problems.append(f"frames_per_video must be >= 1, got {self.frames_per_video}")
        if self.initial_frames < 2 or self.initial_frames % 2:
            problems.append(f"initial_frames must be an even number >= 2 (half per video), got {self.initial_frames}")
        elif self.initial_frames // 2 > self.frames_per_video:
            problems.append(
                f"initial_frames/2 = {self.initial_frames // 2} exceeds frames_per_video = {self.frames_per_video}"
            )
        if self.max_frames_per_call < 1:
            problems.append(f"max_frames_per_call must be >= 1, got {self.max_frames_per_call}")
        if self.max_tool_calls < 0:
            problems.append(f"max_tool_calls must be >= 0, got {self.max_tool_calls}")
        if self.memory_window < 0:
            problems.append(f"memory_window must be >= 0, got {self.memory_window}")
        if min(self.initial_max_pixels, self.retrieved_max_pixels) < self.min_pixels:
            problems.append("pixel budgets must be >= min_pixels")
        if len(self.observation_size) != 2 or min(self.observation_size) < 1:
            problems.append(f"observation_size must be (height, width) >= 1, got {self.observation_size}")
        if self.max_action_length < 1:
            problems.append(f"max_action_length must be >= 1, got {self.max_action_length}")
        if problems:
            raise ValueError("invalid EnvConfig: " + "; ".join(problems))

    @property
    def protocol(self) -> ProtocolSpec:
        """The protocol's numbers and frame numbering for this configuration."""
        return ProtocolSpec(
            frames_per_video=self.frames_per_video,
            initial_frames=self.initial_frames,
            max_frames_per_call=self.max_frames_per_call,
            max_tool_calls=self.max_tool_calls,
            memory_window=self.memory_window,
            initial_frame_rule=self.initial_frame_rule,
        )

    @property
    def total_frames(self) -> int:
        """N: size of the one 1-based frame index space (:attr:`ProtocolSpec.total_frames`)."""
        return self.protocol.total_frames

    @property
    def max_turns(self) -> int:
        """Model turns per episode (:attr:`ProtocolSpec.max_turns`)."""
        return self.protocol.max_turns

    @property
    def max_visible_frames(self) -> int:
        """Upper bound of images in context (:attr:`ProtocolSpec.max_visible_frames`)."""
        return self.protocol.max_visible_frames

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)
