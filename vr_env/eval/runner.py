"""The evaluation runner: play an agent over a dataset's pairs, append one result row per episode.

``evaluate(agent, env_kwargs, limit=..., swap_check=..., out_dir=...)`` steps ``num_envs``
environments side by side (one agent instance per slot, or one batched agent with ``act_batch``),
appends each finished episode to ``out_dir/results.jsonl`` at once (flushed), and at the end writes
``metrics.json``, ``report.md``, plots and ``config.json``. A rerun with the same ``out_dir`` resumes:
episodes already in ``results.jsonl`` are not played again, and a corrupt last line left by a killed
run is dropped. A pair that cannot be run (missing or corrupt video, any error raised by the env) is
recorded as ``skipped`` with its reason and the run goes on; errors raised by the agent propagate.
Without ``out_dir`` everything stays in memory.
"""

from __future__ import annotations

import inspect
import json
import math
import os
import sys
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vr_env.config import EnvConfig
from vr_env.data.base import PairDataset, load_dataset
from vr_env.data.records import PairRecord, VideoRef

RESULTS_FILE = "results.jsonl"
METRICS_FILE = "metrics.json"
REPORT_FILE = "report.md"
CONFIG_FILE = "config.json"
#: Fields of ``config.json`` that must match for a rerun to resume into the same folder.
RESUME_IDENTITY: tuple[str, ...] = ("agent", "dataset", "env", "seed")


class EvalConfigError(ValueError):
    """The output folder holds results of a different evaluation (agent, dataset, env or seed)."""


@dataclass(frozen=True)
class Job:
    """One episode to play: a pair, in its own order or swapped."""

    pair_index: int
    swapped: bool = False

    @property
    def key(self) -> str:
        return job_key(self.pair_index, self.swapped)


def job_key(pair_index: int, swapped: bool) -> str:
    """Row identity in ``results.jsonl``: ``"<pair_index>:<0|1>"``."""
    return f"{int(pair_index)}:{int(bool(swapped))}"


def select_pairs(size: int, limit: int | None = None, shuffle: bool = False, seed: int = 0) -> list[int]:
    """Pair indices to evaluate: the first ``limit`` in dataset order, or of a seeded permutation.

    A larger ``limit`` extends a smaller one (same seed), so runs resume into each other.

    >>> select_pairs(10, 3), select_pairs(10, 3, shuffle=True, seed=1) == select_pairs(10, 5, shuffle=True, seed=1)[:3]
    ([0, 1, 2], True)
    """
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    order = np.random.default_rng(seed).permutation(size).tolist() if shuffle else list(range(size))
    return [int(i) for i in order[: size if limit is None else limit]]


def make_jobs(pair_indices: Sequence[int], swap_check: bool) -> list[Job]:
    """One job per pair, plus its swapped twin when ``swap_check``."""
    jobs = [Job(i, False) for i in pair_indices]
    return jobs + [Job(i, True) for i in pair_indices] if swap_check else jobs


def episode_seed(seed: int, job: Job) -> int:
    """Seed of one episode, fixed by the run seed and the job (not by order, slot or resume)."""
    return int(np.random.SeedSequence([int(seed), job.pair_index, int(job.swapped)]).generate_state(1)[0])


# ------------------------------------------------------------------------------------ results file


class ResultsFile:
    """Append-only JSON lines, one row per episode, flushed as written.

    :meth:`load` reads the rows back; an unreadable last line (a run killed mid-write) is cut off
    the file, an unreadable line elsewhere is skipped with a warning. Later rows win over earlier
    rows with the same key.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.dropped_lines = 0

    def load(self) -> dict[str, dict[str, Any]]:
        rows: dict[str, dict[str, Any]] = {}
        if not self.path.exists():
            return rows
        data = self.path.read_bytes()
        lines = data.split(b"\n")
        offset = 0
        for number, raw in enumerate(lines, start=1):
            start, offset = offset, offset + len(raw) + 1
            if not raw.strip():
                continue
            try:
                row = json.loads(raw)
                if not isinstance(row, dict) or "pair_index" not in row:
                    raise ValueError("not a result row")
            except ValueError:
                self.dropped_lines += 1
                rest = b"".join(lines[number:]).strip()
                if not rest:  # the torn last line of an interrupted run: cut it off
                    with self.path.open("r+b") as handle:
                        handle.truncate(start)
                    warnings.warn(f"{self.path}: dropped an incomplete last line (line {number})", stacklevel=2)
                    break
                warnings.warn(f"{self.path}: skipped unreadable line {number}", stacklevel=2)
                continue
            rows[job_key(row["pair_index"], row.get("swapped", False))] = row
        if data and not data.endswith(b"\n") and self.path.stat().st_size == len(data):
            with self.path.open("ab") as handle:  # a complete last row without its newline
                handle.write(b"\n")
        return rows

    def append(self, row: Mapping[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(row, sort_keys=True, default=_json_default) + "\n")
            handle.flush()
            os.fsync(handle.fileno())


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    return repr(value)


def to_jsonable(value: Any) -> Any:
    """``value`` as plain JSON data (tuples become lists, numpy scalars numbers)."""
    return json.loads(json.dumps(value, default=_json_default))


# ------------------------------------------------------------------------------------ rows


def video_meta(ref: VideoRef, frame_source: Any | None = None) -> dict[str, Any]:
    """Path, model and length of one video; the frame count comes from the frame source if unknown."""
    num_frames, fps = ref.num_frames, ref.fps
    if num_frames is None and frame_source is not None and hasattr(frame_source, "num_frames"):
        try:
            num_frames = int(frame_source.num_frames(ref))
        except Exception:  # metadata only: a video that cannot be opened has no length
            num_frames = None
    duration = num_frames / fps if num_frames and fps and math.isfinite(fps) and fps > 0 else None
    return {"path": ref.path, "model": ref.model, "fps": fps, "num_frames": num_frames, "duration": duration}


def _oriented(record: PairRecord, swapped: bool) -> PairRecord:
    return record.swapped() if swapped else record


def episode_row(
    job: Job,
    record: PairRecord,
    info: Mapping[str, Any],
    *,
    turns: int,
    seconds: float,
    total_reward: float,
    terminated: bool,
    truncated: bool,
    frame_source: Any | None = None,
    texts: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The result row of a finished episode."""
    oriented = _oriented(record, job.swapped)
    row: dict[str, Any] = {
        "pair_index": job.pair_index,
        "pair_id": record.pair_id,
        "swapped": job.swapped,
        "status": "ok",
        "reason": None,
        "labels": dict(info.get("labels") or oriented.labels),
        "final_answer": info.get("final_answer"),
        "reward": float(total_reward),
        "reward_components": dict(info.get("reward_components") or {}),
        "tool_calls": int(info.get("tool_calls", 0)),
        "frames_fetched": int(info.get("frames_fetched", 0)),
        "invalid_turns": int(info.get("invalid_turns", 0)),
        "turns": int(turns),
        "terminated": bool(terminated),
        "truncated": bool(truncated),
        "video_1": video_meta(oriented.video_1, frame_source),
        "video_2": video_meta(oriented.video_2, frame_source),
        "seconds": round(float(seconds), 4),
    }
    if texts is not None:
        row["turn_texts"] = list(texts)
    return row


def skipped_row(job: Job, record: PairRecord | None, reason: str) -> dict[str, Any]:
    """The result row of an episode that could not be played."""
    row: dict[str, Any] = {
        "pair_index": job.pair_index,
        "pair_id": record.pair_id if record is not None else None,
        "swapped": job.swapped,
        "status": "skipped",
        "reason": reason,
    }
    if record is not None:
        oriented = _oriented(record, job.swapped)
        row.update(
            labels=dict(oriented.labels), video_1=video_meta(oriented.video_1), video_2=video_meta(oriented.video_2)
        )
    return row


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


# ------------------------------------------------------------------------------------ agents


def _accepts_seed(method: Callable[..., Any]) -> bool:
    try:
        params = inspect.signature(method).parameters
    except (TypeError, ValueError):
        return False
    return "seed" in params or any(p.kind == p.VAR_KEYWORD for p in params.values())


def reset_agent(agent: Any, seed: int) -> None:
    """Call ``agent.reset(seed=seed)`` when it takes a seed, else ``agent.reset()`` if it has one."""
    reset = getattr(agent, "reset", None)
    if not callable(reset):
        return
    if _accepts_seed(reset):
        reset(seed=seed)
    else:
        reset()


def agent_label(agent: Any) -> str:
    """A stable name for ``config.json``: the registry name, or the agent's class / function."""
    if isinstance(agent, str):
        return agent
    if isinstance(agent, (list, tuple)) and agent:
        return agent_label(agent[0])
    fn = getattr(agent, "fn", None)  # agents.base.CallableAgent
    target = fn if fn is not None else agent
    if not inspect.isfunction(target) and not inspect.isclass(target):
        target = type(target)
    return f"{getattr(target, '__module__', '?')}.{getattr(target, '__qualname__', repr(target))}"


def build_agents(
    agent: Any, num_envs: int, seed: int = 0, agent_kwargs: Mapping[str, Any] | None = None
) -> tuple[list[Any], Any | None]:
    """``(per-slot agents, batched agent or None)``.

    A registry name makes one agent per slot (or one, if it has ``act_batch``); a list gives one per
    slot; a single agent serves one slot, or every slot when it has ``act_batch``.
    """
    from agents.base import as_agent

    if num_envs < 1:
        raise ValueError(f"num_envs must be >= 1, got {num_envs}")
    if isinstance(agent, str):
        from agents.registry import make_agent

        options = {"seed": seed, **dict(agent_kwargs or {})}
        first = make_agent(agent, **options)
        if hasattr(first, "act_batch") and num_envs > 1:
            return [first] * num_envs, first
        return [first] + [make_agent(agent, **options) for _ in range(num_envs - 1)], None
    if agent_kwargs:
        raise ValueError("agent_kwargs only apply to an agent given by name")
    if isinstance(agent, (list, tuple)):
        if len(agent) != num_envs:
            raise ValueError(f"got {len(agent)} agents for num_envs={num_envs}; give one per environment")
        return [as_agent(a) for a in agent], None
    if hasattr(agent, "act_batch") and num_envs > 1:
        return [agent] * num_envs, agent
    if num_envs > 1:
        raise ValueError(
            "one agent instance cannot serve several environments (it keeps per-episode state): "
            "pass its registry name, a list of num_envs agents, or an agent with act_batch"
        )
    return [as_agent(agent)], None


# ------------------------------------------------------------------------------------ environments


def build_envs(
    env_kwargs: Mapping[str, Any] | None, num_envs: int, frame_source: Any | None = None
) -> tuple[list[Any], PairDataset, str]:
    """``num_envs`` environments sharing one loaded dataset (and frame source), and the dataset name."""
    from vr_env.env import VRJudgeEnv

    kwargs = dict(env_kwargs or {})
    dataset = kwargs.pop("dataset", None)
    if not isinstance(dataset, PairDataset):
        base = kwargs.get("config") or EnvConfig()
        name = dataset or base.dataset
        data_root = kwargs.get("data_root", base.data_root)
        dataset = load_dataset(name, data_root, **kwargs.get("dataset_kwargs", base.dataset_kwargs))
        kwargs["dataset_kwargs"] = kwargs.get("dataset_kwargs", base.dataset_kwargs)
        kwargs["data_root"] = data_root
        label = str(name)
    else:
        label = dataset.name
    if frame_source is None:
        from vr_env.video import FrameSource

        base = kwargs.get("config") or EnvConfig()
        frame_source = FrameSource(backend=kwargs.get("video_backend", base.video_backend))
    envs = [VRJudgeEnv(dataset=dataset, frame_source=frame_source, **kwargs) for _ in range(num_envs)]
    return envs, dataset, label


# ------------------------------------------------------------------------------------ the loop


@dataclass
class _Slot:
    env: Any
    agent: Any
    job: Job | None = None
    record: PairRecord | None = None
    obs: Any = None
    info: dict[str, Any] = field(default_factory=dict)
    turns: int = 0
    reward: float = 0.0
    started: float = 0.0
    texts: list[str] = field(default_factory=list)


def play(
    envs: Sequence[Any],
    agents: Sequence[Any],
    jobs: Iterable[Job],
    on_row: Callable[[dict[str, Any]], None],
    *,
    batch_agent: Any | None = None,
    seed: int = 0,
    save_turns: bool = False,
) -> None:
    """Play ``jobs`` on the environments side by side, calling ``on_row`` with each finished row."""
    pending = deque(jobs)
    slots = [_Slot(env, agent) for env, agent in zip(envs, agents, strict=True)]
    while True:
        for slot in slots:
            while slot.job is None and pending:
                _start(slot, pending.popleft(), on_row, seed, reset_agents=batch_agent is None)
        active = [s for s in slots if s.job is not None]
        if not active:
            return
        if batch_agent is not None:
            texts = list(batch_agent.act_batch([s.obs for s in active], [s.info for s in active]))
            if len(texts) != len(active):
                raise ValueError(f"act_batch returned {len(texts)} turns for {len(active)} episodes")
        else:
            texts = [s.agent.act(s.obs, s.info) for s in active]
        for slot, text in zip(active, texts, strict=True):
            if not isinstance(text, str):
                raise TypeError(f"the agent must return one turn as str, got {type(text).__name__}")
            _advance(slot, text, on_row, save_turns)


def _start(slot: _Slot, job: Job, on_row: Callable[[dict[str, Any]], None], seed: int, reset_agents: bool) -> None:
    env = slot.env.unwrapped if hasattr(slot.env, "unwrapped") else slot.env
    record = env.dataset[job.pair_index]
    ep_seed = episode_seed(seed, job)
    try:
        obs, info = slot.env.reset(seed=ep_seed, options={"pair_index": job.pair_index, "swap": job.swapped})
    except Exception as exc:  # the pair cannot be run (missing / corrupt video...): record and go on
        on_row(skipped_row(job, record, _reason(exc)))
        return
    if reset_agents:
        reset_agent(slot.agent, ep_seed)
    slot.job, slot.record, slot.obs, slot.info = job, record, obs, info
    slot.turns, slot.reward, slot.started, slot.texts = 0, 0.0, time.perf_counter(), []


def _advance(slot: _Slot, text: str, on_row: Callable[[dict[str, Any]], None], save_turns: bool) -> None:
    assert slot.job is not None and slot.record is not None
    try:
        obs, reward, terminated, truncated, info = slot.env.step(text)
    except Exception as exc:  # e.g. a video that breaks when a later frame is decoded
        on_row(skipped_row(slot.job, slot.record, _reason(exc)))
        slot.job = None
        return
    slot.turns += 1
    slot.reward += float(reward)
    if save_turns:
        slot.texts.append(text)
    slot.obs, slot.info = obs, info
    if terminated or truncated:
        env = slot.env.unwrapped if hasattr(slot.env, "unwrapped") else slot.env
        on_row(
            episode_row(
                slot.job,
                slot.record,
                info,
                turns=slot.turns,
                seconds=time.perf_counter() - slot.started,
                total_reward=slot.reward,
                terminated=terminated,
                truncated=truncated,
                frame_source=getattr(env, "frame_source", None),
                texts=slot.texts if save_turns else None,
            )
        )
        slot.job = None


# ------------------------------------------------------------------------------------ evaluate


def _check_resume(out: Path, config: Mapping[str, Any]) -> None:
    path = out / CONFIG_FILE
    if not path.exists() or not (out / RESULTS_FILE).exists():
        return
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return
    new = to_jsonable(config)
    differing = [k for k in RESUME_IDENTITY if old.get(k) != new.get(k)]
    if differing:
        raise EvalConfigError(
            f"{out} holds results of a different evaluation ({', '.join(differing)} differ); "
            "use another output folder or overwrite it"
        )


def evaluate(
    agent: Any,
    env_kwargs: Mapping[str, Any] | None = None,
    limit: int | None = None,
    swap_check: bool = False,
    out_dir: str | Path | None = None,
    *,
    num_envs: int = 1,
    seed: int = 0,
    shuffle: bool = False,
    agent_kwargs: Mapping[str, Any] | None = None,
    retry_skipped: bool = False,
    overwrite: bool = False,
    save_turns: bool = False,
    plots: bool = True,
    progress: bool = True,
    frame_source: Any | None = None,
    command_args: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Evaluate ``agent`` and return the metrics (see :mod:`vr_env.eval.metrics`).

    ``agent``: a registry name (``"scanner"``, ``"hf"`` with ``agent_kwargs={"model_path": ...}``,
    ``"module:attr"``), an agent object or plain callable (one env slot, or all slots if it has
    ``act_batch``), or a list of ``num_envs`` agents. ``env_kwargs``: ``VRJudgeEnv`` arguments
    (``dataset`` may be a name or a ``PairDataset``). ``limit``: the first ``limit`` pairs (of a
    seeded permutation with ``shuffle``). ``swap_check``: also play every pair with the videos
    exchanged. ``out_dir``: write and resume ``results.jsonl`` there, plus ``metrics.json``,
    ``report.md``, plots and ``config.json``; ``None`` keeps everything in memory.
    """
    envs, dataset, dataset_name = build_envs(env_kwargs, num_envs, frame_source)
    slot_agents, batch_agent = build_agents(agent, num_envs, seed, agent_kwargs)
    label = agent_label(agent)
    env_config = envs[0].config.to_dict()
    env_config["dataset"] = dataset_name
    config = {
        "agent": label,
        "agent_kwargs": dict(agent_kwargs or {}),
        "dataset": dataset_name,
        "dataset_size": len(dataset),
        "dataset_problem_count": len(dataset.problems),
        "dataset_problems": [str(p) for p in dataset.problems[:20]],
        "env": env_config,
        "seed": seed,
        "limit": limit,
        "shuffle": shuffle,
        "swap_check": swap_check,
        "num_envs": num_envs,
        "args": dict(command_args or {}),
    }
    try:
        from vr_env import __version__

        config["vr_env_version"] = __version__
    except ImportError:  # pragma: no cover
        pass
    pairs = select_pairs(len(dataset), limit, shuffle, seed)
    jobs = make_jobs(pairs, swap_check)
    wanted = {job.key for job in jobs}

    rows: dict[str, dict[str, Any]] = {}
    results: ResultsFile | None = None
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        if overwrite:
            for name in (RESULTS_FILE, METRICS_FILE, REPORT_FILE):
                (out / name).unlink(missing_ok=True)
        _check_resume(out, config)
        (out / CONFIG_FILE).write_text(json.dumps(to_jsonable(config), indent=2, sort_keys=True) + "\n", "utf-8")
        results = ResultsFile(out / RESULTS_FILE)
        rows = results.load()

    def done(row: Mapping[str, Any]) -> bool:
        return row.get("status") == "ok" or not retry_skipped

    todo = [job for job in jobs if not (job.key in rows and done(rows[job.key]))]
    bar = _progress(len(jobs), len(jobs) - len(todo), f"eval {label}", enabled=progress)

    def on_row(row: dict[str, Any]) -> None:
        rows[job_key(row["pair_index"], row["swapped"])] = row
        if results is not None:
            results.append(row)
        if bar is not None:
            bar.update(1)

    try:
        play(envs, slot_agents, todo, on_row, batch_agent=batch_agent, seed=seed, save_turns=save_turns)
    finally:
        if bar is not None:
            bar.close()
        for env in envs:
            env.close()

    from vr_env.eval.metrics import compute_metrics

    selected = [rows[key] for key in (job.key for job in jobs) if key in rows and key in wanted]
    metrics = compute_metrics(selected, swap_check=swap_check)
    metrics = {"agent": label, "dataset": dataset_name, **metrics}
    if out is not None:
        from vr_env.eval.report import write_report

        (out / METRICS_FILE).write_text(json.dumps(to_jsonable(metrics), indent=2) + "\n", "utf-8")
        write_report(metrics, out, plots=plots)
    return metrics


def _progress(total: int, initial: int, desc: str, enabled: bool) -> Any | None:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit="episode", file=sys.stderr, dynamic_ncols=True)
