"""Replaying recorded episodes through the environment to rebuild every turn's exact context.

A trace or rollout line (``agents.records``) stores no pixels: the env configuration, the pair, the
swap, the seed and each turn's text. :class:`Replayer` resets an environment with those, steps it
with the recorded texts and attaches to every turn the windowed :class:`~vr_env.context.Context` the
environment produced at that turn (evicted images absent, their text present). It checks that the
environment answers as recorded (frames shown, reward, invalid reason) and raises
:class:`ReplayError` naming the episode otherwise. A video that can no longer be read raises the
environment's ``VideoError`` (the data's fault: callers skip and count it).

:func:`record_texts` is the same walk for texts that were never recorded as episodes (a scripted
teacher's turns): it builds the :class:`~agents.records.EpisodeRecord` from the environment's answers.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from agents.records import EpisodeRecord, FrameRef, TurnRecord


class ReplayError(ValueError):
    """A recorded episode does not replay: the environment answers differently than recorded."""


def env_from_config(config: dict[str, Any], dataset: Any | None = None, frame_source: Any | None = None) -> Any:
    """A ``VRJudgeEnv`` built from a recorded ``EnvConfig.to_dict()`` (``dataset``: a loaded one to reuse)."""
    from vr_env.config import EnvConfig
    from vr_env.env import VRJudgeEnv

    known = set(EnvConfig.__dataclass_fields__)
    unknown = set(config) - known
    if unknown:
        raise ReplayError(f"recorded env configuration has unknown fields {sorted(unknown)}")
    kwargs = dict(config)
    if dataset is not None:
        kwargs.pop("dataset", None)
        return VRJudgeEnv(dataset=dataset, frame_source=frame_source, **kwargs)
    return VRJudgeEnv(frame_source=frame_source, **kwargs)


class Replayer:
    """Replays episodes, keeping one environment per recorded configuration (datasets load once).

    ``dataset``: a ``PairDataset`` to use instead of loading the recorded dataset by name (tests,
    in-memory datasets). ``env_config``: the configuration for records that carry none.
    """

    def __init__(
        self, *, dataset: Any | None = None, env_config: dict[str, Any] | None = None, frame_source: Any = None
    ) -> None:
        self.dataset = dataset
        self.env_config = env_config
        self.frame_source = frame_source
        self._envs: dict[str, Any] = {}

    def env(self, config: dict[str, Any] | None) -> Any:
        config = config if config is not None else self.env_config
        if config is None:
            raise ReplayError("the record has no env configuration and none was given to the replayer")
        key = json.dumps(config, sort_keys=True, default=str)
        if key not in self._envs:
            self._envs[key] = env_from_config(config, self.dataset, self.frame_source)
        return self._envs[key]

    def close(self) -> None:
        for env in self._envs.values():
            env.close()
        self._envs.clear()

    def replay(self, episode: EpisodeRecord) -> EpisodeRecord:
        """A copy of ``episode`` whose turns carry their rebuilt contexts; checks the env agrees."""
        env = self.env(episode.env)
        name = f"episode {episode.episode} (pair {episode.pair_index} {episode.pair_id!r})"
        _, info = env.reset(seed=episode.seed, options={"pair_index": episode.pair_index, "swap": episode.swapped})
        if str(info["pair_id"]) != episode.pair_id:
            raise ReplayError(f"{name}: pair {episode.pair_index} of the dataset is now {info['pair_id']!r}")
        turns: list[TurnRecord] = []
        ended = False
        for turn in episode.turns:
            if ended:
                raise ReplayError(f"{name}: the episode ended before turn {turn.turn}")
            context = info["context"]
            rebuilt = replace(turn, context=context, recorded_frames=None)
            if turn.recorded_frames is not None and rebuilt.frames != turn.recorded_frames:
                raise ReplayError(
                    f"{name}, turn {turn.turn}: the env shows {_refs(rebuilt.frames)}, "
                    f"the record says {_refs(turn.recorded_frames)}"
                )
            _, reward, terminated, truncated, info = env.step(turn.text)
            if (
                not math.isclose(float(reward), turn.reward, abs_tol=1e-6)
                or info.get("invalid_reason") != turn.invalid_reason
            ):
                raise ReplayError(
                    f"{name}, turn {turn.turn}: the env answers reward {reward:.4f} / {info.get('invalid_reason')!r}, "
                    f"the record says {turn.reward:.4f} / {turn.invalid_reason!r}"
                )
            rebuilt.format_problems = list(info.get("format_problems") or [])
            turns.append(rebuilt)
            ended = terminated or truncated
        return replace(episode, turns=turns)


def _refs(frames: Sequence[FrameRef]) -> str:
    return "[" + ", ".join(f"{f.frame_id}@{f.height}x{f.width}" for f in frames) + "]"


def record_texts(
    env: Any,
    texts: Sequence[str],
    *,
    pair_index: int,
    swapped: bool = False,
    seed: int | None = None,
    episode: int = 0,
    group: int = 0,
) -> EpisodeRecord:
    """Play ``texts`` as the model turns of one episode and record what the environment answered.

    Turns carry text and context but no token ids (``temperature`` 1.0, ``finish_reason`` "stop").
    Texts left over once the episode ends are ignored; an episode still running when the texts run
    out stays unfinished (``terminated`` and ``truncated`` False).
    """
    _, info = env.reset(seed=seed, options={"pair_index": int(pair_index), "swap": bool(swapped)})
    unwrapped = getattr(env, "unwrapped", env)
    record = EpisodeRecord(
        episode=episode,
        group=group,
        pair_index=int(pair_index),
        pair_id=str(info["pair_id"]),
        swapped=bool(info.get("swapped", swapped)),
        seed=seed,
        env=unwrapped.config.to_dict(),
    )
    for index, text in enumerate(texts):
        turn = TurnRecord(
            episode=episode,
            turn=index,
            context=info["context"],
            text=text,
            prompt_ids=None,
            completion_ids=None,
            logprobs=None,
            image_grid_thw=None,
            temperature=1.0,
            finish_reason="stop",
        )
        _, reward, terminated, truncated, info = env.step(text)
        turn.reward, turn.terminated, turn.truncated = float(reward), bool(terminated), bool(truncated)
        turn.invalid_reason = info.get("invalid_reason")
        turn.format_problems = list(info.get("format_problems") or [])
        record.turns.append(turn)
        record.total_reward += float(reward)
        record.tool_calls = int(info.get("tool_calls", 0))
        record.frames_fetched = int(info.get("frames_fetched", 0))
        record.invalid_turns = int(info.get("invalid_turns", 0))
        if terminated or truncated:
            record.terminated, record.truncated = bool(terminated), bool(truncated)
            record.labels = dict(info.get("labels") or {})
            record.final_answer = info.get("final_answer")
            record.reward_components = dict(info.get("reward_components") or {})
            record.used_tool = bool(info.get("used_tool", record.tool_calls > 0))
            break
    return record
