"""Batched multi-episode rollouts: many environments stepped together, one generation batch per turn.

``RolloutEngine.run(pair_indices)`` plays ``group_size`` episodes on each pair (the G envs of a group
are reset with ``options={"pair_index": i, "swap": ...}`` so they see the same pair). At every turn
the contexts of all active episodes go to the backend as one batch (left padding, per-row stop);
each episode's env is stepped with its text; finished episodes drop out. Every policy turn becomes a
:class:`~agents.records.TurnRecord` (exact prompt ids, sampled ids, log-probs, context, env reply).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agents.backends.base import Generation, GenerationBackend, GenerationSettings
from agents.records import EpisodeRecord, TurnRecord, contains_run
from vr_env.context import to_chat_messages
from vr_env.video.errors import VideoError

#: ``script(episode, turn, info) -> text | None``: a scripted turn (forced ids) or ``None`` (sample).
Script = Callable[[int, int, dict[str, Any]], "str | None"]


@dataclass
class _Slot:
    """A running episode: its env, latest info and record."""

    env: Any
    record: EpisodeRecord
    info: dict[str, Any]


@dataclass
class RolloutResult:
    """Episodes of one rollout, with wall time and generation statistics."""

    episodes: list[EpisodeRecord]
    settings: GenerationSettings
    seconds: float = 0.0
    generate_calls: int = 0
    stats: dict[str, Any] = field(default_factory=dict)
    #: Groups whose pair could not be read (``group``, ``pair_index``, ``reason`` naming the file).
    skipped: list[dict[str, Any]] = field(default_factory=list)

    def groups(self) -> dict[int, list[EpisodeRecord]]:
        """Episodes by group (one group = the G episodes on one pair)."""
        out: dict[int, list[EpisodeRecord]] = {}
        for episode in self.episodes:
            out.setdefault(episode.group, []).append(episode)
        return out

    def turns(self) -> list[TurnRecord]:
        return [turn for episode in self.episodes for turn in episode.turns]


def default_env_factory(**env_kwargs: Any) -> Callable[[], Any]:
    """``gym.make("vr_env:VRJudge-v0", **env_kwargs)`` as a factory; the envs share one dataset."""
    shared: dict[str, Any] = {}

    def make() -> Any:
        import gymnasium as gym

        kwargs = dict(env_kwargs)
        if "dataset" in shared and not isinstance(kwargs.get("dataset"), str):
            kwargs["dataset"] = shared["dataset"]
        env = gym.make("vr_env:VRJudge-v0", **kwargs)
        shared.setdefault("dataset", env.unwrapped.dataset)  # type: ignore[attr-defined]
        return env

    return make


class RolloutEngine:
    """Plays groups of episodes with a :class:`GenerationBackend`, batching each turn.

    ``env_factory`` makes one environment (default: ``gym.make("vr_env:VRJudge-v0", **env_kwargs)``);
    the engine keeps a pool and reuses it across runs. ``max_batch_size`` caps one generation batch
    (``None``: all active episodes). ``script`` forces scripted turns (transformers backend only).
    Sampling is seeded per turn from ``seed`` without touching the global RNG.
    """

    def __init__(
        self,
        backend: GenerationBackend,
        env_factory: Callable[[], Any] | None = None,
        *,
        env_kwargs: dict[str, Any] | None = None,
        group_size: int = 8,
        settings: GenerationSettings | None = None,
        max_batch_size: int | None = None,
        seed: int = 0,
        script: Script | None = None,
    ) -> None:
        if group_size < 1:
            raise ValueError(f"group_size must be >= 1, got {group_size}")
        if env_factory is not None and env_kwargs:
            raise ValueError("pass env_factory or env_kwargs, not both")
        self.backend = backend
        self.env_factory = env_factory or default_env_factory(**(env_kwargs or {}))
        self.group_size = group_size
        self.settings = settings or GenerationSettings()
        self.max_batch_size = max_batch_size
        self.seed = seed
        self.script = script
        self._envs: list[Any] = []
        if script is not None and not hasattr(backend, "encode_completion"):
            raise TypeError(f"scripted turns need a backend that can force ids; {type(backend).__name__} cannot")

    def _env(self, index: int) -> Any:
        while len(self._envs) <= index:
            self._envs.append(self.env_factory())
        return self._envs[index]

    def close(self) -> None:
        for env in self._envs:
            env.close()
        self._envs.clear()

    # ------------------------------------------------------------------ running
    def run(self, pair_indices: Sequence[int], *, swap: bool = False, batched: bool = True) -> RolloutResult:
        """Play ``group_size`` episodes on each pair; ``batched=False`` plays them one at a time."""
        start = time.perf_counter()
        slots: list[_Slot] = []
        skipped: list[dict[str, Any]] = []
        for group, pair_index in enumerate(pair_indices):
            members: list[_Slot] = []
            try:
                for member in range(self.group_size):
                    episode = group * self.group_size + member
                    env = self._env(episode)
                    seed = self.seed + episode
                    _, info = env.reset(seed=seed, options={"pair_index": int(pair_index), "swap": swap})
                    record = EpisodeRecord(
                        episode=episode,
                        group=group,
                        pair_index=int(pair_index),
                        pair_id=str(info["pair_id"]),
                        swapped=bool(info.get("swapped", swap)),
                        seed=seed,
                    )
                    members.append(_Slot(env, record, info))
            except VideoError as error:  # an unreadable pair drops its group, not the whole rollout
                skipped.append({"group": group, "pair_index": int(pair_index), "reason": str(error)})
                continue
            slots.extend(members)
        calls = 0
        if batched:
            calls += self._play(slots)
        else:
            for slot in slots:
                calls += self._play([slot])
        episodes = [slot.record for slot in slots]
        self._add_exploration(episodes, slots)
        return RolloutResult(
            episodes=episodes,
            settings=self.settings,
            seconds=time.perf_counter() - start,
            generate_calls=calls,
            stats=rollout_stats(episodes),
            skipped=skipped,
        )

    def _play(self, slots: list[_Slot]) -> int:
        """Step ``slots`` until every episode ends; returns the number of generation calls."""
        calls = 0
        active = list(slots)
        while active:
            turn = min(len(s.record.turns) for s in active)
            settings = self.settings.for_turn(turn)
            size = self.max_batch_size or len(active)
            for start in range(0, len(active), size):
                chunk = active[start : start + size]
                generations = self._generate(chunk, settings, turn)
                calls += 1
                for slot, generation in zip(chunk, generations, strict=True):
                    self._step(slot, generation, settings)
            active = [s for s in active if not s.record.done]
        return calls

    def _generate(self, chunk: list[_Slot], settings: GenerationSettings, turn: int) -> list[Generation]:
        conversations = [to_chat_messages(slot.info["context"]) for slot in chunk]
        base = self.seed if settings.seed is None else settings.seed
        settings = settings.with_seed(_turn_seed(base, chunk, turn))
        if self.script is None:
            return self.backend.generate(conversations, settings)
        texts = [self.script(s.record.episode, len(s.record.turns), s.info) for s in chunk]
        if all(t is None for t in texts):
            return self.backend.generate(conversations, settings)
        encode = self.backend.encode_completion  # type: ignore[attr-defined]
        forced = [None if t is None else encode(t) for t in texts]
        generations = self.backend.generate(conversations, settings, forced_token_ids=forced)  # type: ignore[call-arg]
        for generation, text in zip(generations, texts, strict=True):
            generation.extra["forced"] = text is not None
        return generations

    def _step(self, slot: _Slot, generation: Generation, settings: GenerationSettings) -> None:
        record = slot.record
        turn = TurnRecord(
            episode=record.episode,
            turn=len(record.turns),
            context=slot.info["context"],
            text=generation.text,
            prompt_ids=generation.prompt_ids,
            completion_ids=generation.token_ids,
            logprobs=generation.logprobs,
            image_grid_thw=generation.image_grid_thw,
            temperature=settings.logprob_temperature,
            finish_reason=generation.finish_reason,
            forced=bool(generation.extra.get("forced", False)),
        )
        if record.turns:
            previous = record.turns[-1]
            if previous.completion_ids is not None and turn.prompt_ids is not None:
                previous.retokenized_exact = contains_run(turn.prompt_ids, previous.completion_ids)
        _, reward, terminated, truncated, info = slot.env.step(generation.text)
        turn.reward = float(reward)
        turn.terminated, turn.truncated = bool(terminated), bool(truncated)
        turn.invalid_reason = info.get("invalid_reason")
        record.turns.append(turn)
        record.total_reward += float(reward)
        record.tool_calls = int(info.get("tool_calls", 0))
        record.frames_fetched = int(info.get("frames_fetched", 0))
        record.invalid_turns = int(info.get("invalid_turns", 0))
        slot.info = info
        if terminated or truncated:
            record.terminated, record.truncated = bool(terminated), bool(truncated)
            record.labels = dict(info.get("labels") or {})
            record.final_answer = info.get("final_answer")
            record.reward_components = dict(info.get("reward_components") or {})
            record.used_tool = bool(info.get("used_tool", record.tool_calls > 0))

    def _add_exploration(self, episodes: list[EpisodeRecord], slots: list[_Slot]) -> None:
        """Fill the group-level exploration bonus from the env's reward weights."""
        from vr_env.rewards import exploration_bonus

        by_group: dict[int, list[int]] = {}
        for index, episode in enumerate(episodes):
            by_group.setdefault(episode.group, []).append(index)
        for members in by_group.values():
            weights = slots[members[0]].env.unwrapped.config.reward
            bonus = exploration_bonus(
                [episodes[i].used_tool for i in members], weights.exploration_omega, weights.exploration_eta
            )
            for i, value in zip(members, bonus, strict=True):
                episodes[i].exploration = float(value)


def _turn_seed(base: int, chunk: list[_Slot], turn: int) -> int:
    """A sampling seed fixed by the rollout seed, the chunk's first episode and the turn."""
    first = chunk[0].record.episode
    return int(np.random.SeedSequence([base, first, turn]).generate_state(1)[0])


def rollout_stats(episodes: Sequence[EpisodeRecord]) -> dict[str, Any]:
    """Summary numbers: episodes, turns, tool use, accuracy, mean score, re-tokenization agreement."""
    turns = [t for e in episodes for t in e.turns]
    checked = [t.retokenized_exact for t in turns if t.retokenized_exact is not None]
    n = max(len(episodes), 1)
    return {
        "episodes": len(episodes),
        "turns": len(turns),
        "completion_tokens": sum(len(t.completion_ids or ()) for t in turns),
        "prompt_tokens": sum(len(t.prompt_ids or ()) for t in turns),
        "tool_use_rate": sum(e.used_tool for e in episodes) / n,
        "finished_rate": sum(e.terminated for e in episodes) / n,
        "correct_rate": sum(e.correct for e in episodes) / n,
        "mean_score": float(np.mean([e.score for e in episodes])) if episodes else 0.0,
        "retokenized_exact_rate": (sum(checked) / len(checked)) if checked else None,
    }
