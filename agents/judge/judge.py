"""A trained judge as a Python object: ``Judge.compare(video_a, video_b, prompt) -> Verdict``.

A comparison is one greedy ``VRJudge-v0`` episode on an unlabelled pair; many comparisons run
together through :class:`agents.rollout.RolloutEngine` (group size 1), one generation batch per
turn. Videos are file paths or frame arrays (a generator's output in memory,
:mod:`vr_env.data.inmemory`). With ``both_orders`` every pair is also judged with the videos
exchanged, in the same batch, and the two answers are combined (:func:`combine_orders`).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from agents.backends.base import GenerationBackend
from agents.judge.config import JudgeConfig
from agents.judge.probability import answer_distributions, supports_distribution
from agents.judge.verdict import TraceTurn, Verdict, combine_orders
from agents.records import EpisodeRecord, TurnRecord
from agents.rollout import RolloutEngine
from vr_env.config import EnvConfig
from vr_env.data.inmemory import InMemoryPairs, VideoLike, video_ref
from vr_env.data.records import PairRecord
from vr_env.protocol.labels import LABEL_KEYS
from vr_env.protocol.parsing import parse_turn

#: ``script(record, turn) -> text | None``: a scripted judge turn (tests, benchmarks) or ``None``.
JudgeScript = Callable[[PairRecord, int], "str | None"]


@dataclass(frozen=True)
class Comparison:
    """One question to the judge: is ``video_a`` better than ``video_b`` for ``prompt``?"""

    video_a: VideoLike
    video_b: VideoLike
    prompt: str


@dataclass
class JudgeRun:
    """Verdicts of one batch, with its cost: episodes played, generation calls, wall time."""

    verdicts: list[Verdict]
    episodes: int = 0
    generate_calls: int = 0
    seconds: float = 0.0
    probability_seconds: float = 0.0


class Judge:
    """A judge over a generation backend (``Judge.from_pretrained(path)`` for the usual case).

    ``model_id`` names the checkpoint in :meth:`settings_key` (the cache identity). ``script``
    forces judge turns (needs a backend that can force ids). Thread-safe: batches run one at a time.
    """

    def __init__(
        self,
        backend: GenerationBackend,
        config: JudgeConfig | None = None,
        *,
        model_id: str = "",
        script: JudgeScript | None = None,
    ) -> None:
        self.backend = backend
        self.config = config or JudgeConfig()
        self.model_id = model_id
        self.env_config = EnvConfig(**self.config.env)  # validates the env options now
        self._pairs = InMemoryPairs(name="judge")
        self._lock = threading.Lock()
        env_kwargs = dict(self.config.env)

        def make_env() -> Any:
            import gymnasium as gym

            return gym.make("vr_env:VRJudge-v0", dataset=self._pairs, **env_kwargs)

        engine_script = None if script is None else self._wrap(script)
        self._engine = RolloutEngine(
            backend,
            make_env,
            group_size=1,
            settings=self.config.settings(),
            max_batch_size=self.config.max_batch_size,
            seed=0,
            script=engine_script,
        )

    @classmethod
    def from_pretrained(
        cls,
        model: str | Path,
        *,
        backend: str = "transformers",
        config: JudgeConfig | None = None,
        script: JudgeScript | None = None,
        **backend_kwargs: Any,
    ) -> Judge:
        """Load a checkpoint with ``backend`` (``transformers``, ``vllm`` or ``openai``; see docs/vlm.md)."""
        from agents.backends import make_backend

        return cls(make_backend(backend, str(model), **backend_kwargs), config, model_id=str(model), script=script)

    def _wrap(self, script: JudgeScript) -> Callable[[int, int, dict[str, Any]], str | None]:
        def engine_script(episode: int, turn: int, info: dict[str, Any]) -> str | None:
            return script(self._pairs[int(info["pair_index"])], turn)

        return engine_script

    def close(self) -> None:
        self._engine.close()

    # ------------------------------------------------------------------ identity
    def settings_key(self) -> str:
        """SHA-256 of everything besides the videos and prompt that decides a verdict."""
        payload = {
            "model": self.model_id,
            "backend": type(self.backend).__name__,
            "judge": self.config.to_dict(),
            "env": self.env_config.to_dict(),
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()

    # ------------------------------------------------------------------ judging
    def compare(
        self, video_a: VideoLike, video_b: VideoLike, prompt: str, *, both_orders: bool | None = None
    ) -> Verdict:
        """Judge one pair (greedy); see :meth:`compare_batch`."""
        return self.compare_batch([Comparison(video_a, video_b, prompt)], both_orders=both_orders)[0]

    def compare_batch(
        self, comparisons: Sequence[Comparison | tuple[VideoLike, VideoLike, str]], *, both_orders: bool | None = None
    ) -> list[Verdict]:
        """Judge many pairs together; one verdict per comparison, in order."""
        return self.run(comparisons, both_orders=both_orders).verdicts

    def run(
        self, comparisons: Sequence[Comparison | tuple[VideoLike, VideoLike, str]], *, both_orders: bool | None = None
    ) -> JudgeRun:
        """:meth:`compare_batch` with the batch's cost (episodes, generation calls, seconds)."""
        both = self.config.both_orders if both_orders is None else both_orders
        items = [c if isinstance(c, Comparison) else Comparison(*c) for c in comparisons]
        start = time.perf_counter()
        records: list[PairRecord] = []
        slots: list[tuple[int | None, int | None]] = []  # per comparison: record index of each order
        early: dict[int, Verdict] = {}
        for index, item in enumerate(items):
            try:
                forward = _record(f"{index}:ab", item.video_a, item.video_b, item.prompt)
            except (ValueError, TypeError) as error:
                early[index] = Verdict.unscorable(f"invalid input: {error}")
                slots.append((None, None))
                continue
            records.append(forward)
            backward_index = None
            if both:
                records.append(
                    PairRecord(
                        f"{index}:ba", item.prompt, forward.video_2, forward.video_1, labels={}, meta={"order": "ba"}
                    )
                )
                backward_index = len(records) - 1
            slots.append((len(records) - (2 if both else 1), backward_index))
        single: list[Verdict] = []
        run = JudgeRun(verdicts=[])
        if records:
            with self._lock:
                self._pairs.replace(records)
                result = self._engine.run(list(range(len(records))))
                single, run.probability_seconds = self._verdicts(records, result.episodes, result.skipped)
            run.episodes, run.generate_calls = len(result.episodes), result.generate_calls
        for index, (fwd, bwd) in enumerate(slots):
            if fwd is None:
                run.verdicts.append(early[index])
            elif bwd is None:
                run.verdicts.append(single[fwd])
            else:
                run.verdicts.append(combine_orders(single[fwd], single[bwd]))
        run.seconds = time.perf_counter() - start
        return run

    def _verdicts(
        self, records: list[PairRecord], episodes: list[EpisodeRecord], skipped: list[dict[str, Any]]
    ) -> tuple[list[Verdict], float]:
        """One single-order verdict per record, with answer distributions where available."""
        verdicts: list[Verdict | None] = [None] * len(records)
        for item in skipped:
            verdicts[int(item["pair_index"])] = Verdict.unscorable(f"unreadable video: {item['reason']}")
        finals: list[TurnRecord | None] = [None] * len(records)
        for episode in episodes:
            verdict = episode_verdict(episode)
            verdicts[episode.pair_index] = verdict
            if verdict.ok and episode.turns:
                finals[episode.pair_index] = episode.turns[-1]
        seconds = 0.0
        if self.config.probability and supports_distribution(self.backend) and any(finals):
            start = time.perf_counter()
            dists = answer_distributions(self.backend, finals, "OA", self.config.max_batch_size)
            seconds = time.perf_counter() - start
            for index, dist in enumerate(dists):
                found = verdicts[index]
                if dist is not None and found is not None:
                    verdicts[index] = replace(found, distribution=dist)
        missing = [i for i, v in enumerate(verdicts) if v is None]
        if missing:  # every record is played or skipped by the engine; this guards the invariant
            raise RuntimeError(f"no episode for pair(s) {missing}")
        return [v for v in verdicts if v is not None], seconds


def _record(pair_id: str, video_a: VideoLike, video_b: VideoLike, prompt: str) -> PairRecord:
    if not isinstance(prompt, str):
        raise TypeError(f"the prompt must be a string, got {type(prompt).__name__}")
    return PairRecord(pair_id, prompt, video_ref(video_a), video_ref(video_b), labels={}, meta={"order": "ab"})


def episode_verdict(episode: EpisodeRecord) -> Verdict:
    """The single-order verdict of a finished judging episode (no distribution yet)."""
    trace = tuple(_trace_turn(turn) for turn in episode.turns)
    common = {"trace": trace, "turns": len(episode.turns), "tool_calls": episode.tool_calls}
    answer = episode.final_answer
    if episode.terminated and answer is not None and all(k in answer for k in LABEL_KEYS):
        return Verdict(status="ok", winners={k: int(answer[k]) for k in LABEL_KEYS}, **common)  # type: ignore[arg-type]
    last = episode.turns[-1].invalid_reason if episode.turns else None
    reason = f"no valid answer within the turn limit ({len(episode.turns)} turns"
    reason += f"; last problem: {last})" if last else ")"
    return Verdict.unscorable(reason, **common)  # type: ignore[arg-type]


def _trace_turn(turn: TurnRecord) -> TraceTurn:
    fetched: tuple[int, ...] = ()
    if turn.invalid_reason is None and not turn.terminated and not turn.truncated:
        call = parse_turn(turn.text).tool_call
        if call is not None and call.frames:
            fetched = tuple(int(f) for f in call.frames)
    return TraceTurn(turn.text, fetched, turn.invalid_reason)
