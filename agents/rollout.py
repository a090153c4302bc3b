"""Batched multi-episode rollouts: GRPO groups played through the one episode driver.

``RolloutEngine.run(pair_indices)`` plays ``group_size`` episodes on each pair (the G episodes of a
group are reset with ``options={"pair_index": i, "swap": ...}`` so they see the same pair) with
:func:`vr_env.driver.drive`: a :class:`~agents.policy.BackendPolicy` generates each turn of all
active episodes as one batch, finished episodes free their slot for the next one, and an
:class:`~agents.recorder.EpisodeRecorder` turns every policy turn into a
:class:`~agents.records.TurnRecord` (exact prompt ids, sampled ids, log-probs, context, env reply).
A pair whose video cannot be read drops its whole group (reported in ``RolloutResult.skipped``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agents.backends.base import GenerationBackend, GenerationSettings
from agents.policy import BackendPolicy, Script
from agents.recorder import EpisodeRecorder
from agents.records import EpisodeRecord, TurnRecord
from vr_env.driver import EpisodeResult, Job, drive
from vr_env.rewards import exploration_bonus
from vr_env.video.prefetch import PrefetchConfig

__all__ = ["RolloutEngine", "RolloutResult", "Script", "default_env_factory", "rollout_stats"]


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
        # No passive checker: in Gymnasium 1.4 it crashes the first step after a first reset that
        # raised (an unreadable pair), and slots are reused. check_env runs in the env's own tests.
        env = gym.make("vr_env:VRJudge-v0", disable_env_checker=True, **kwargs)
        shared.setdefault("dataset", env.unwrapped.dataset)  # type: ignore[attr-defined]
        return env

    return make


class RolloutEngine:
    """Plays groups of episodes with a :class:`GenerationBackend`, batching each turn.

    ``env_factory`` makes one environment (default: ``gym.make("vr_env:VRJudge-v0", **env_kwargs)``);
    the engine keeps a pool and reuses it across runs. ``max_batch_size`` caps the episodes played
    at once, i.e. one generation batch (``None``: every episode of the run at once); a finished
    episode's slot takes the next one. ``script`` forces scripted turns (transformers backend only).
    ``prefetch``: decode the pairs of upcoming groups while a batch plays (the driver's ``prefetch``;
    default on, ``False``/0 off).
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
        prefetch: PrefetchConfig | int | bool | None = None,
    ) -> None:
        if group_size < 1:
            raise ValueError(f"group_size must be >= 1, got {group_size}")
        if env_factory is not None and env_kwargs:
            raise ValueError("pass env_factory or env_kwargs, not both")
        if max_batch_size is not None and max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {max_batch_size}")
        if script is not None and not hasattr(backend, "encode_completion"):
            raise TypeError(f"scripted turns need a backend that can force ids; {type(backend).__name__} cannot")
        self.backend = backend
        self.env_factory = env_factory or default_env_factory(**(env_kwargs or {}))
        self.group_size = group_size
        self.settings = settings or GenerationSettings()
        self.max_batch_size = max_batch_size
        self.seed = seed
        self.script = script
        self.prefetch = PrefetchConfig.of(prefetch)
        self._envs: list[Any] = []

    def _pool(self, size: int) -> list[Any]:
        while len(self._envs) < size:
            self._envs.append(self.env_factory())
        return self._envs[:size]

    def close(self) -> None:
        for env in self._envs:
            env.close()
        self._envs.clear()

    def jobs(self, pair_indices: Sequence[int], swap: bool = False) -> list[Job]:
        """The run's episodes: ``group_size`` per pair, numbered in order, seeded ``seed + episode``."""
        return [
            Job(int(pair), bool(swap), seed=self.seed + g * self.group_size + m, group=g, index=g * self.group_size + m)
            for g, pair in enumerate(pair_indices)
            for m in range(self.group_size)
        ]

    def run(self, pair_indices: Sequence[int], *, swap: bool = False, batched: bool = True) -> RolloutResult:
        """Play ``group_size`` episodes on each pair; ``batched=False`` plays them one at a time."""
        start = time.perf_counter()
        jobs = self.jobs(pair_indices, swap)
        failed: dict[int, dict[str, Any]] = {}

        def pending() -> Iterator[Job]:
            for job in jobs:
                if job.group not in failed:
                    yield job

        def on_episode(result: EpisodeResult) -> None:
            recorder.on_episode(result)
            if not result.ok and result.job.group not in failed:
                failed[result.job.group] = {
                    "group": result.job.group,
                    "pair_index": result.job.pair_index,
                    "reason": result.reason,
                }

        recorder = EpisodeRecorder()
        policy = BackendPolicy(self.backend, self.settings, seed=self.seed, script=self.script)
        slots = (self.max_batch_size or max(len(jobs), 1)) if batched else 1
        drive(
            self._pool(min(slots, max(len(jobs), 1))),
            policy,
            pending(),
            on_turn=recorder.on_turn,
            on_episode=on_episode,
            prefetch=self.prefetch,
            upcoming=jobs,
        )
        episodes = sorted((e for e in recorder.episodes if e.group not in failed), key=lambda e: e.episode)
        self._add_exploration(episodes)
        return RolloutResult(
            episodes=episodes,
            settings=self.settings,
            seconds=time.perf_counter() - start,
            generate_calls=policy.calls,
            stats=rollout_stats(episodes),
            skipped=sorted(failed.values(), key=lambda s: s["group"]),
        )

    def _add_exploration(self, episodes: list[EpisodeRecord]) -> None:
        """Fill the group-level exploration bonus from the env's reward weights."""
        if not episodes:
            return
        weights = self._envs[0].unwrapped.config.reward
        by_group: dict[int, list[EpisodeRecord]] = {}
        for episode in episodes:
            by_group.setdefault(episode.group, []).append(episode)
        for members in by_group.values():
            bonus = exploration_bonus(
                [e.used_tool for e in members], weights.exploration_omega, weights.exploration_eta
            )
            for episode, value in zip(members, bonus, strict=True):
                episode.exploration = float(value)


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
