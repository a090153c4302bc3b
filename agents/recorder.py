"""Turn records from the episode driver: the recorder every consumer of exact rollouts uses.

:class:`EpisodeRecorder` receives the driver's :class:`~vr_env.driver.TurnResult` and
:class:`~vr_env.driver.EpisodeResult` (pass ``on_turn=recorder.on_turn,
on_episode=recorder.on_episode`` to :func:`vr_env.driver.drive` or :func:`vr_env.eval.evaluate`)
and builds one :class:`~agents.records.EpisodeRecord` per episode with a
:class:`~agents.records.TurnRecord` per turn: the context the policy saw, and, where the policy
returned a :class:`~agents.backends.base.Generation`, its exact prompt ids, sampled ids and
log-probs. Turns of agents without ids (scripted teachers, hosted APIs) keep ``None`` there.
``path`` appends each finished episode to a JSON-lines file as it ends.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agents.backends.base import Generation
from agents.records import EpisodeRecord, TurnRecord, contains_run
from vr_env.context import context_from_info
from vr_env.driver import EpisodeResult, TurnResult


class EpisodeRecorder:
    """Collects :class:`EpisodeRecord` objects (see the module docstring)."""

    def __init__(self, path: str | Path | None = None, on_record: Callable[[EpisodeRecord], None] | None = None):
        self.path = Path(path) if path is not None else None
        self.on_record = on_record
        self.open: dict[int, EpisodeRecord] = {}
        self.episodes: list[EpisodeRecord] = []
        self.skipped: list[EpisodeResult] = []

    def _record(self, result: TurnResult) -> EpisodeRecord:
        job = result.job
        record = self.open.get(job.index)
        if record is None:
            info = result.context_info
            record = EpisodeRecord(
                episode=job.index,
                group=job.group,
                pair_index=int(job.pair_index),
                pair_id=str(info.get("pair_id")),
                swapped=bool(info.get("swapped", job.swapped)),
                seed=job.seed,
            )
            self.open[job.index] = record
        return record

    def on_turn(self, result: TurnResult) -> None:
        record = self._record(result)
        generation = result.output if isinstance(result.output, Generation) else None
        turn = TurnRecord(
            episode=record.episode,
            turn=result.turn,
            context=context_from_info(result.context_info),
            text=str(result.action),
            prompt_ids=generation.prompt_ids if generation else None,
            completion_ids=generation.token_ids if generation else None,
            logprobs=generation.logprobs if generation else None,
            image_grid_thw=generation.image_grid_thw if generation else None,
            temperature=float(generation.extra.get("temperature", 1.0)) if generation else 1.0,
            finish_reason=generation.finish_reason if generation else "stop",
            forced=bool(generation.extra.get("forced", False)) if generation else False,
            reward=result.reward,
            terminated=result.terminated,
            truncated=result.truncated,
            invalid_reason=result.invalid_reason,
        )
        if record.turns:
            previous = record.turns[-1]
            if previous.completion_ids is not None and turn.prompt_ids is not None:
                previous.retokenized_exact = contains_run(turn.prompt_ids, previous.completion_ids)
        record.turns.append(turn)
        record.total_reward += result.reward
        record.tool_calls = int(result.info.get("tool_calls", 0))
        record.frames_fetched = int(result.info.get("frames_fetched", 0))
        record.invalid_turns = int(result.info.get("invalid_turns", 0))

    def on_episode(self, result: EpisodeResult) -> None:
        if not result.ok:
            self.open.pop(result.job.index, None)
            self.skipped.append(result)
            return
        record = self.open.pop(result.job.index)
        record.terminated, record.truncated = result.terminated, result.truncated
        record.labels = dict(result.labels)
        record.final_answer = result.final_answer
        record.reward_components = dict(result.reward_components)
        record.used_tool = result.used_tool
        self.episodes.append(record)
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(_jsonable(record.to_dict())) + "\n")
        if self.on_record is not None:
            self.on_record(record)


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=lambda v: v.item() if hasattr(v, "item") else repr(v)))
