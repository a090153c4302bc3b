"""The one episode driver: many environments side by side, a batched policy, slots refilled as
episodes end, one typed record per turn and per finished episode.

Evaluation, training rollouts, SB3 evaluation and a judge service all step environments with a
policy; they differ only in what they record. They all run :func:`drive` and add recorders
(``on_turn`` / ``on_episode`` callbacks), never another loop.

- A :class:`Job` is one episode to play: a pair, its orientation, a seed, and the group it belongs
  to (the G episodes of a GRPO group share a pair).
- A policy has ``act_batch(observations, infos) -> actions`` (one action per active slot, in
  order); it may return :class:`Decision` objects to attach side outputs (token ids, log-probs) to
  a turn. ``begin(slot, job)``, when present, is called as an episode starts in a slot
  (:mod:`vr_env.agent` adapts per-episode agents and plain callables).
- Continuous batching: when an episode ends, its slot takes the next job at once.
- Decode ahead (``prefetch``, on by default): while episodes run, a bounded pool of threads decodes
  the initial frames (and, with the default strategy, every candidate frame) of the pairs the next
  jobs will play into the environments' frame cache (:mod:`vr_env.video.prefetch`); the results and
  their order do not change, only the wait. It looks ahead in ``jobs`` when that is a sequence, or
  in ``upcoming`` (a lazy ``jobs`` is never consumed ahead of time).
- Errors are told apart here and only here. A pair whose data cannot be read
  (:data:`DATA_ERRORS`: a missing, corrupt or unsupported video, a bad dataset row) is the data's
  fault: the job ends as an :class:`EpisodeResult` with ``status="skipped"`` and its reason, and
  the run goes on. Whatever the policy writes is the policy's fault: the environment scores and
  penalizes it (the episode is never skipped for it). Anything else raised (a bug in the policy
  or the environment) propagates: results already reported are kept by their recorders.

>>> from vr_env.env import VRJudgeEnv
>>> envs = [VRJudgeEnv(dataset_kwargs={"n": 4}) for _ in range(2)]
>>> answer = "<Snapshot>-</Snapshot><Think>-</Think><Answer>TA=0, VQ=0, MQ=0, OA=0</Answer>"
>>> results = []
>>> judges = [lambda obs: answer] * 2  # one agent per slot (stateless here)
>>> stats = drive(envs, judges, [Job(i) for i in range(3)], on_episode=results.append)
>>> [(r.job.pair_index, r.status, r.turns) for r in sorted(results, key=lambda r: r.job.pair_index)]
[(0, 'ok', 1), (1, 'ok', 1), (2, 'ok', 1)]
>>> stats.policy_calls, stats.turns
(2, 3)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from vr_env.agent import as_policy
from vr_env.data.base import DatasetError
from vr_env.protocol.labels import all_labelled_correct
from vr_env.video.errors import VideoError
from vr_env.video.prefetch import Lookahead, PrefetchConfig

#: Exceptions that mean the pair's data cannot be used (the episode is skipped, the run goes on).
DATA_ERRORS: tuple[type[BaseException], ...] = (VideoError, DatasetError)

Status = Literal["ok", "skipped"]


@dataclass(frozen=True)
class Job:
    """One episode to play: ``pair_index`` in the environment's dataset, optionally with the videos
    exchanged. ``seed`` seeds ``env.reset`` (``None``: unseeded); ``group`` and ``index`` identify
    the episode to its consumer (GRPO group, episode number)."""

    pair_index: int
    swapped: bool = False
    seed: int | None = None
    group: int = 0
    index: int = 0

    @property
    def key(self) -> str:
        """``"<pair_index>:<0|1>"``, the identity of a pair in one orientation."""
        return job_key(self.pair_index, self.swapped)


def job_key(pair_index: int, swapped: bool) -> str:
    """Row identity of a pair in one orientation: ``"<pair_index>:<0|1>"``."""
    return f"{int(pair_index)}:{int(bool(swapped))}"


def episode_seed(seed: int, pair_index: int, swapped: bool) -> int:
    """Seed of one episode, fixed by a run seed and the pair (not by order, slot or resume).

    >>> episode_seed(0, 3, False) == episode_seed(0, 3, False) != episode_seed(0, 3, True)
    True
    """
    return int(np.random.SeedSequence([int(seed), int(pair_index), int(bool(swapped))]).generate_state(1)[0])


@dataclass(frozen=True)
class Decision:
    """A policy's action with a side output kept on the turn record (e.g. a ``Generation``)."""

    action: Any
    output: Any = None


@dataclass
class TurnResult:
    """One policy turn: what the policy saw (``observation``, ``context_info``), did and got back."""

    job: Job
    slot: int
    turn: int
    observation: Any
    context_info: dict[str, Any]
    action: Any
    output: Any
    reward: float
    terminated: bool
    truncated: bool
    info: dict[str, Any]

    @property
    def invalid_reason(self) -> str | None:
        """Why the environment rejected the turn (the policy's fault), if it did."""
        return self.info.get("invalid_reason")


@dataclass
class EpisodeResult:
    """A finished episode (``status="ok"``) or a job whose data could not be read (``"skipped"``).

    The numbers come from the environment's last ``info``; ``reason`` names the data error of a
    skipped job. ``actions`` keeps every action when the driver was asked to.
    """

    job: Job
    status: Status
    reason: str | None = None
    pair_id: str | None = None
    labels: dict[str, int | None] = field(default_factory=dict)
    final_answer: dict[str, int] | None = None
    reward_components: dict[str, float] = field(default_factory=dict)
    total_reward: float = 0.0
    turns: int = 0
    tool_calls: int = 0
    frames_fetched: int = 0
    invalid_turns: int = 0
    used_tool: bool = False
    terminated: bool = False
    truncated: bool = False
    seconds: float = 0.0
    actions: list[Any] | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def correct(self) -> bool:
        """Every labelled key of the final answer matches its label."""
        return all_labelled_correct(self.final_answer, self.labels)


@dataclass
class DriveStats:
    """What one :func:`drive` call did: episodes finished / skipped, turns, policy calls, seconds, and
    pairs decoded ahead (``prefetched``; ``prefetch_errors``: warms that failed, met again by the driver)."""

    episodes: int = 0
    skipped: int = 0
    turns: int = 0
    policy_calls: int = 0
    seconds: float = 0.0
    prefetched: int = 0
    prefetch_errors: int = 0


@dataclass
class _Slot:
    env: Any
    index: int
    job: Job | None = None
    obs: Any = None
    info: dict[str, Any] = field(default_factory=dict)
    turns: int = 0
    reward: float = 0.0
    started: float = 0.0
    actions: list[Any] = field(default_factory=list)


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def skipped_result(job: Job, reason: str, pair_id: str | None = None) -> EpisodeResult:
    """The result of a job whose data could not be read."""
    return EpisodeResult(job=job, status="skipped", reason=reason, pair_id=pair_id)


def _finished_result(slot: _Slot, terminated: bool, truncated: bool, keep_actions: bool) -> EpisodeResult:
    assert slot.job is not None
    info = slot.info
    return EpisodeResult(
        job=slot.job,
        status="ok",
        pair_id=None if info.get("pair_id") is None else str(info["pair_id"]),
        labels=dict(info.get("labels") or {}),
        final_answer=info.get("final_answer"),
        reward_components=dict(info.get("reward_components") or {}),
        total_reward=slot.reward,
        turns=slot.turns,
        tool_calls=int(info.get("tool_calls", 0)),
        frames_fetched=int(info.get("frames_fetched", 0)),
        invalid_turns=int(info.get("invalid_turns", 0)),
        used_tool=bool(info.get("used_tool", int(info.get("tool_calls", 0)) > 0)),
        terminated=bool(terminated),
        truncated=bool(truncated),
        seconds=time.perf_counter() - slot.started,
        actions=list(slot.actions) if keep_actions else None,
        info=info,
    )


def drive(
    envs: Sequence[Any],
    policy: Any,
    jobs: Iterable[Job],
    *,
    on_turn: Callable[[TurnResult], None] | None = None,
    on_episode: Callable[[EpisodeResult], None] | None = None,
    keep_actions: bool = False,
    prefetch: PrefetchConfig | int | bool | None = None,
    upcoming: Sequence[Job] | None = None,
) -> DriveStats:
    """Play ``jobs`` on ``envs`` side by side with ``policy``; report turns and episodes as they end.

    ``policy``: anything :func:`vr_env.agent.as_policy` accepts (an object with ``act_batch``, a
    list of per-slot agents, one agent or callable for a single slot). ``jobs`` is consumed lazily,
    so a consumer may decide what to play next from the results it has seen. ``keep_actions``
    stores every action on the episode result. ``prefetch``: a :class:`PrefetchConfig`, a number of
    decode workers (0 or ``False``: off) or ``None`` (the default config, on). ``upcoming``: the jobs
    expected, in order, for a lazy ``jobs`` (only read to decode ahead; default: ``jobs`` itself
    when it is a sequence, else no prefetch).
    """
    if not envs:
        raise ValueError("drive needs at least one environment")
    batch_policy = as_policy(policy, len(envs))
    begin = getattr(batch_policy, "begin", None)
    act_slots = getattr(batch_policy, "act_slots", None)
    pending: Iterator[Job] = iter(jobs)
    slots = [_Slot(env, i) for i, env in enumerate(envs)]
    stats = DriveStats()
    started = time.perf_counter()
    exhausted = False
    plan = upcoming if upcoming is not None else (jobs if isinstance(jobs, Sequence) else None)
    ahead = Lookahead.start(envs, plan, PrefetchConfig.of(prefetch))
    try:
        while True:
            for slot in slots:
                while slot.job is None and not exhausted:
                    job = next(pending, None)
                    if job is None:
                        exhausted = True
                        break
                    try:
                        _start(slot, job, begin, on_episode, stats)
                    finally:
                        if ahead is not None:
                            ahead.started(job)  # after reset: the env holds its own pins now
            active = [s for s in slots if s.job is not None]
            if not active:
                break
            observations, infos = [s.obs for s in active], [s.info for s in active]
            if act_slots is not None:
                decisions = list(act_slots([s.index for s in active], observations, infos))
            else:
                decisions = list(batch_policy.act_batch(observations, infos))
            stats.policy_calls += 1
            if len(decisions) != len(active):
                raise ValueError(f"the policy returned {len(decisions)} actions for {len(active)} episodes")
            for slot, decision in zip(active, decisions, strict=True):
                _advance(slot, decision, on_turn, on_episode, stats, keep_actions)
    finally:  # also on Ctrl-C and errors: queued decodes cancelled, running ones stopped, pins released
        if ahead is not None:
            ahead.close()
            stats.prefetched, stats.prefetch_errors = ahead.prefetcher.warmed, len(ahead.prefetcher.errors)
    stats.seconds = time.perf_counter() - started
    return stats


def _start(
    slot: _Slot,
    job: Job,
    begin: Callable[..., None] | None,
    on_episode: Callable[[EpisodeResult], None] | None,
    stats: DriveStats,
) -> None:
    options = {"pair_index": int(job.pair_index), "swap": bool(job.swapped)}
    try:
        obs, info = slot.env.reset(seed=job.seed, options=options)
    except DATA_ERRORS as exc:  # the pair cannot be run: the data's fault, reported and skipped
        stats.skipped += 1
        if on_episode is not None:
            on_episode(skipped_result(job, _reason(exc)))
        return
    if begin is not None:
        begin(slot.index, job)
    slot.job, slot.obs, slot.info = job, obs, dict(info)
    slot.turns, slot.reward, slot.started, slot.actions = 0, 0.0, time.perf_counter(), []


def _advance(
    slot: _Slot,
    decision: Any,
    on_turn: Callable[[TurnResult], None] | None,
    on_episode: Callable[[EpisodeResult], None] | None,
    stats: DriveStats,
    keep_actions: bool,
) -> None:
    assert slot.job is not None
    action, output = (decision.action, decision.output) if isinstance(decision, Decision) else (decision, None)
    before_obs, before_info = slot.obs, slot.info
    try:
        obs, reward, terminated, truncated, info = slot.env.step(action)
    except DATA_ERRORS as exc:  # a video that breaks when a later frame is decoded
        stats.skipped += 1
        if on_episode is not None:
            on_episode(skipped_result(slot.job, _reason(exc), before_info.get("pair_id")))
        slot.job = None
        return
    stats.turns += 1
    slot.turns += 1
    slot.reward += float(reward)
    if keep_actions:
        slot.actions.append(action)
    slot.obs, slot.info = obs, dict(info)
    if on_turn is not None:
        on_turn(
            TurnResult(
                job=slot.job,
                slot=slot.index,
                turn=slot.turns - 1,
                observation=before_obs,
                context_info=before_info,
                action=action,
                output=output,
                reward=float(reward),
                terminated=bool(terminated),
                truncated=bool(truncated),
                info=slot.info,
            )
        )
    if terminated or truncated:
        stats.episodes += 1
        if on_episode is not None:
            on_episode(_finished_result(slot, terminated, truncated, keep_actions))
        slot.job = None
