"""``VRJudge-v0``: judge a video pair by reasoning in text and fetching frames with a tool.

One episode is one pair. Actions are model turns (text); observations are the frames visible in
the memory window plus the new text. ``info["context"]`` is the full windowed context, which
:func:`vr_env.context.to_chat_messages` turns into chat messages; ``info_context=False`` leaves it
out of ``info`` (every other key stays), for vectorized RL whose policy reads only the observation:
it carries every shown frame's pixels, which ``AsyncVectorEnv`` would pickle through a pipe each step.

>>> import gymnasium as gym
>>> env = gym.make("vr_env:VRJudge-v0")
>>> obs, info = env.reset(seed=0)
>>> obs["frame_ids"][:8].tolist()
[7, 19, 31, 43, 55, 67, 79, 91]
>>> call = '<tool_call>{"name": "select_frames", "arguments": {"target_frames": [1, 2, 60]}}</tool_call>'
>>> turn = "<Snapshot>v1 clean</Snapshot><Think>check</Think><Recommend Answer>TA=1,VQ=1,MQ=0,OA=1,CF=2</Recommend Answer>"
>>> obs, reward, terminated, truncated, info = env.step(turn + call)
>>> obs["frame_ids"][8:11].tolist(), reward, terminated
([1, 2, 60], 0.0, False)
>>> obs, reward, terminated, truncated, info = env.step("<Snapshot>-</Snapshot><Think>-</Think><Answer>TA=1,VQ=1,MQ=0,OA=1</Answer>")
>>> terminated, sorted(info["reward_components"])
(True, ['accuracy', 'cot_gain', 'format', 'invalid_turns', 'return', 'total'])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import gymnasium as gym
import numpy as np

from vr_env.config import EnvConfig, reward_weights
from vr_env.context import ChatStyle, Context, ContextTurn, FrameImage
from vr_env.data.base import PairDataset, load_dataset
from vr_env.data.records import LABEL_KEYS, PairRecord
from vr_env.memory import MemoryWindow
from vr_env.protocol.parsing import Answer, ParsedTurn, parse_turn
from vr_env.protocol.prompts import ProtocolTexts
from vr_env.render import frame_grid, letterbox
from vr_env.rewards import EpisodeOutcome, Rubric
from vr_env.spaces import TextSpace, observation_space
from vr_env.tools import select_frames
from vr_env.video.errors import VideoError

#: Pairs tried by an unpinned ``reset`` before an unreadable video is raised.
MAX_RESET_DRAWS = 8
#: Longest observation text; longer texts (huge prompts) are cut in the observation only.
MAX_OBSERVATION_TEXT = 32768


@dataclass
class Episode:
    """Mutable state of one episode."""

    record: PairRecord
    pair_index: int
    swapped: bool
    context: Context
    turns: int = 0
    tool_rounds: int = 0
    frames_fetched: int = 0
    invalid_turns: int = 0
    answers: list[Answer | None] = field(default_factory=list)
    turn_format_ok: list[bool] = field(default_factory=list)
    done: bool = False
    thumbnails: dict[int, np.ndarray] = field(default_factory=dict)


class VRJudgeEnv(gym.Env[dict, str]):
    """The VR-Thinker judging environment. Keyword arguments are :class:`EnvConfig` fields.

    ``reset(options={"pair_index": i, "swap": bool | "random"})`` pins the pair (so the G
    environments of a GRPO group see the same one) and optionally exchanges the two videos (labels
    mirrored). Without ``pair_index`` the pair is drawn from ``self.np_random``.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 1}  # noqa: RUF012 (Gymnasium declares it so)

    def __init__(
        self,
        render_mode: str | None = None,
        *,
        config: EnvConfig | None = None,
        dataset: str | PairDataset | None = None,
        frame_source: Any | None = None,
        **overrides: Any,
    ) -> None:
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        known = {f.name for f in fields(EnvConfig)}
        unknown = set(overrides) - known
        if unknown:
            raise TypeError(f"unknown VRJudge-v0 argument(s) {sorted(unknown)}; known: {sorted(known)}")
        if "reward" in overrides:
            overrides["reward"] = reward_weights(overrides["reward"])
        if "observation_size" in overrides:
            overrides["observation_size"] = tuple(overrides["observation_size"])
        base = config or EnvConfig()
        if isinstance(dataset, str):
            overrides["dataset"] = dataset
        elif isinstance(dataset, PairDataset):
            overrides["dataset"] = dataset.name
        self.config = EnvConfig(**{**base.to_dict(), "reward": base.reward, **overrides})
        if isinstance(dataset, PairDataset):
            self.dataset = dataset
        else:
            self.dataset = load_dataset(self.config.dataset, self.config.data_root, **self.config.dataset_kwargs)
        if len(self.dataset) == 0:
            raise ValueError(
                f"dataset {self.config.dataset!r} has no usable pairs; problems: {self.dataset.problems[:5]}"
            )
        if frame_source is None:
            from vr_env.video.source import FrameSource

            frame_source = FrameSource(backend=self.config.video_backend)
        self.frame_source = frame_source
        self.render_mode = render_mode
        self.window = MemoryWindow(self.config.memory_window)
        self.rubric = Rubric(self.config.reward)
        self.max_visible = self.config.max_visible_frames
        self.action_space = TextSpace(max_length=self.config.max_action_length)
        self.observation_space = observation_space(
            self.max_visible, self.config.observation_size, self.config.total_frames, MAX_OBSERVATION_TEXT
        )
        self.texts = ProtocolTexts(self.config)
        self.chat_style = ChatStyle(
            frame_labels=bool(self.config.frame_labels),
            initial_frames_input=self.config.initial_frames_input,
            initial_frames_position=self.config.initial_frames_position,
            eviction=self.config.eviction,
            shown_frame=self.texts.template.texts["shown_frame"],
            evicted_frame=self.texts.template.texts["evicted_frame"],
        )
        self._system_prompt = self.texts.system()
        self._episode: Episode | None = None

    # ------------------------------------------------------------------ episode control
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict, dict]:
        super().reset(seed=seed)
        options = dict(options or {})
        unknown = set(options) - {"pair_index", "swap"}
        if unknown:
            raise ValueError(f"unknown reset option(s) {sorted(unknown)}; known: pair_index, swap")
        index = options.get("pair_index")
        pinned = index is not None
        if not pinned:
            index = int(self.np_random.integers(len(self.dataset)))
        elif isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= index < len(self.dataset):
            raise ValueError(f"pair_index must be an int in [0, {len(self.dataset)}), got {index!r}")
        swap = options.get("swap", False)
        if swap == "random":
            swap = bool(self.np_random.integers(2))
        elif not isinstance(swap, (bool, np.bool_)):
            raise ValueError(f"swap must be True, False or 'random', got {swap!r}")

        # A pinned pair whose video cannot be read raises VideoError (naming the file); a drawn pair
        # is replaced by another draw, and the skipped ones are reported in info["skipped_pairs"].
        skipped: list[dict[str, Any]] = []
        ids = self.config.protocol.initial_frame_ids()
        while True:
            record = self.dataset[int(index)]
            if swap:
                record = record.swapped()
            self._pin_videos(record)  # before decoding, so a small cache cannot evict them mid-episode
            try:
                frames = self._fetch(record, ids, self.config.initial_max_pixels)
                break
            except VideoError as error:
                if pinned or len(skipped) + 1 >= MAX_RESET_DRAWS:
                    raise
                skipped.append({"pair_index": int(index), "pair_id": record.pair_id, "reason": str(error)})
                index = int(self.np_random.integers(len(self.dataset)))
        context = Context(
            [
                ContextTurn("system", self._system_prompt),
                ContextTurn("user", self.texts.user(record.prompt, record.dimensions), frames),
            ],
            self.chat_style,
        )
        self._episode = Episode(record=record, pair_index=int(index), swapped=bool(swap), context=context)
        text = self._system_prompt + "\n\n" + context.turns[1].text
        info = self._info()
        if skipped:
            info["skipped_pairs"] = skipped
        return self._observation(text), info

    def step(self, action: str) -> tuple[dict, float, bool, bool, dict]:
        ep = self._episode
        if ep is None or ep.done:
            raise RuntimeError("call reset() before step(): the episode has not started or has ended")
        if not isinstance(action, str):
            raise TypeError(f"an action is one model turn as str, got {type(action).__name__}")
        cfg = self.config
        too_long = len(action) > cfg.max_action_length
        kept = action[: cfg.max_action_length]
        parsed = parse_turn(kept)  # never raises: every text gives a defined turn
        ep.turns += 1
        ep.context.turns.append(ContextTurn("assistant", kept))
        ep.answers.append(parsed.answer)
        ep.turn_format_ok.append(parsed.format_ok and not too_long)
        try:
            terminated, invalid, env_error = self._act(ep, parsed, len(action))
        except Exception as exc:  # a last guard: the turn is invalid, the episode stays consistent
            terminated, invalid, env_error = False, f"the turn could not be carried out ({type(exc).__name__})", None
        reward = 0.0
        if invalid is not None:
            ep.invalid_turns += 1
            reward -= cfg.reward.invalid_turn_penalty
        for reason in (invalid, env_error):
            if reason is not None:
                calls_left, turns_left = cfg.max_tool_calls - ep.tool_rounds, cfg.max_turns - ep.turns
                ep.context.turns.append(ContextTurn("user", self.texts.error(reason, calls_left, turns_left)))
        truncated = not terminated and ep.turns >= cfg.max_turns
        info_extra: dict[str, Any] = {
            "invalid_reason": invalid,
            "env_error": env_error,
            "format_problems": list(parsed.format_problems),
        }
        if terminated or truncated:
            total, summary = self._finish(ep, terminated)
            reward += total
            info_extra.update(summary)
            text = self.texts.plain("final" if terminated else "truncated")
        else:
            text = ep.context.turns[-1].text
        return self._observation(text), float(reward), terminated, truncated, self._info(**info_extra)

    def _act(self, ep: Episode, parsed: ParsedTurn, length: int) -> tuple[bool, str | None, str | None]:
        """Carry out a parsed turn of ``length`` characters: ``(terminated, invalid_reason, env_error)``."""
        cfg = self.config
        texts = self.texts
        if length > cfg.max_action_length:
            return False, texts.too_long(length), None
        if parsed.answer is not None and parsed.answer.kind == "final":
            if all(k in parsed.answer.values for k in LABEL_KEYS):
                return True, None, None
            return False, texts.incomplete_final(parsed.answer.problems), None
        if parsed.tool_call is None:
            return False, texts.bad_turn(parsed.format_problems), None
        if ep.tool_rounds >= cfg.max_tool_calls:
            return False, texts.plain("no_calls"), None
        selection = select_frames(parsed.tool_call, cfg, texts)
        if selection.error is not None:
            return False, selection.error, None
        try:
            self._run_tool(ep, selection.frames)
        except VideoError as error:  # the data's fault, not the policy's: no penalty
            return False, None, texts.frames_unreadable(error)
        return False, None, None

    def _finish(self, ep: Episode, terminated: bool) -> tuple[float, dict[str, Any]]:
        """Score the ended episode: its rubric total and the end-of-episode ``info`` entries."""
        ep.done = True
        outcome = EpisodeOutcome(
            labels=dict(ep.record.labels),
            answers=tuple(ep.answers),
            turn_format_ok=tuple(ep.turn_format_ok),
            finished=terminated,
            used_tool=ep.tool_rounds > 0,
            invalid_turns=ep.invalid_turns,
        )
        breakdown = self.rubric.score(outcome)
        scored = outcome.scored_answer
        penalties = ep.invalid_turns * self.config.reward.invalid_turn_penalty
        return breakdown.total, {
            "labels": dict(ep.record.labels),
            "final_answer": dict(scored.values) if scored is not None else None,
            "used_tool": outcome.used_tool,
            "reward_components": {
                **breakdown.as_dict(),
                "invalid_turns": float(ep.invalid_turns),
                "return": breakdown.total - penalties,
            },
        }

    # ------------------------------------------------------------------ internals
    def _pin_videos(self, record: PairRecord) -> None:
        """Keep the current pair's frames cached until the next reset, so an episode decodes each video once."""
        pin = getattr(self.frame_source, "pin", None)
        if pin is None:
            return
        previous = getattr(self, "_pinned", ())
        self._pinned = tuple(pin(ref) for ref in (record.video_1, record.video_2))
        for key in previous:
            self.frame_source.unpin(key)

    def close(self) -> None:
        for key in getattr(self, "_pinned", ()):
            self.frame_source.unpin(key)
        self._pinned = ()
        super().close()

    def _run_tool(self, ep: Episode, frame_ids: Sequence[int]) -> None:
        frames = self._fetch(ep.record, frame_ids, self.config.retrieved_max_pixels)
        ep.tool_rounds += 1
        ep.frames_fetched += len(frames)
        calls_left = self.config.max_tool_calls - ep.tool_rounds
        text = self.texts.tool_result(frame_ids, ep.tool_rounds, calls_left)
        ep.context.turns.append(ContextTurn("user", text, frames, tool_round=ep.tool_rounds))
        latest = ep.tool_rounds
        ep.context.evict(lambda r: self.window.is_visible(r, latest))

    def _fetch(self, record: PairRecord, frame_ids: Sequence[int], max_pixels: int) -> tuple[FrameImage, ...]:
        by_video: dict[int, list[tuple[int, int]]] = {1: [], 2: []}
        for fid in frame_ids:
            video, position = self.config.protocol.locate(fid)
            by_video[video].append((fid, position))
        images: dict[int, np.ndarray] = {}
        for video, items in by_video.items():
            if not items:
                continue
            ref = record.video_1 if video == 1 else record.video_2
            decoded = self.frame_source.frames(
                ref,
                [p for _, p in items],
                frames_per_video=self.config.frames_per_video,
                max_pixels=max_pixels,
                min_pixels=self.config.min_pixels,
            )
            images.update({fid: img for (fid, _), img in zip(items, decoded, strict=True)})
        result = []
        for fid in frame_ids:
            video, position = self.config.protocol.locate(fid)
            label = self.texts.frame_label(fid)
            result.append(FrameImage(fid, video, position, label, images[fid]))
        return tuple(result)

    def _thumbnail(self, frame: FrameImage) -> np.ndarray:
        assert self._episode is not None
        cache = self._episode.thumbnails
        if frame.frame_id not in cache:
            cache[frame.frame_id] = letterbox(frame.image, self.config.observation_size)
        return cache[frame.frame_id]

    def _observation(self, text: str) -> dict[str, Any]:
        assert self._episode is not None
        k, (h, w) = self.max_visible, self.config.observation_size
        frames = np.zeros((k, h, w, 3), dtype=np.uint8)
        mask = np.zeros(k, dtype=np.int8)
        ids = np.zeros(k, dtype=np.int64)
        for slot, frame in enumerate(self._episode.context.visible_frames()[:k]):
            frames[slot] = self._thumbnail(frame)
            mask[slot] = 1
            ids[slot] = frame.frame_id
        return {"frames": frames, "frame_mask": mask, "frame_ids": ids, "text": text[:MAX_OBSERVATION_TEXT]}

    def _info(self, **extra: Any) -> dict[str, Any]:
        ep = self._episode
        assert ep is not None
        context = {"context": ep.context.copy()} if self.config.info_context else {}
        return {
            **context,
            "pair_id": ep.record.pair_id,
            "pair_index": ep.pair_index,
            "swapped": ep.swapped,
            "prompt": ep.record.prompt,
            "turn": ep.turns,
            "tool_calls": ep.tool_rounds,
            "frames_fetched": ep.frames_fetched,
            "invalid_turns": ep.invalid_turns,
            "protocol": self.config.protocol,
            "invalid_reason": None,
            "env_error": None,
            **extra,
        }

    # ------------------------------------------------------------------ looking at it
    @property
    def context(self) -> Context:
        """The current episode's context (a copy)."""
        if self._episode is None:
            raise RuntimeError("no episode yet: call reset()")
        return self._episode.context.copy()

    def render(self) -> np.ndarray | None:
        """``rgb_array``: the visible frames, labelled by video and index."""
        if self.render_mode != "rgb_array" or self._episode is None:
            return None
        frames = self._episode.context.visible_frames()
        return frame_grid(frames, self.config.observation_size, columns=self.config.initial_frames)
