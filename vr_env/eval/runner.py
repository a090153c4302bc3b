"""``evaluate``: play an agent over a dataset's pairs with the episode driver, one row per episode.

``evaluate(agent, env_kwargs, limit=..., swap_check=..., out_dir=...)`` steps ``num_envs``
environments side by side through :func:`vr_env.driver.drive` (one agent per slot, or one batched
agent with ``act_batch`` serving every slot), appends each finished episode to
``out_dir/results.jsonl`` at once (flushed), and at the end writes ``metrics.json``, ``report.md``,
plots and ``config.json``. A rerun with the same ``out_dir`` resumes: episodes already in
``results.jsonl`` are not played again, and a corrupt last line left by a killed run is dropped.
A pair whose data cannot be read is recorded as ``skipped`` with its reason and the run goes on;
whatever the agent writes is scored by the environment. ``on_turn`` / ``on_episode`` add recorders
(e.g. the turn records trainers consume). Without ``out_dir`` everything stays in memory.

Sharding (:mod:`vr_env.eval.shards`): ``shard=Shard(I, N)`` plays one share of the pairs into
``out_dir/shards/I-of-N`` (resumable like any folder); ``data_parallel=True`` under ``torchrun`` /
``accelerate launch`` plays the shard of this rank and merges the shards on rank 0
(:mod:`vr_env.eval.merge`), so ``out_dir`` ends up as a single process would have left it.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from vr_env.agent import agent_label, as_agent
from vr_env.driver import EpisodeResult, Job, TurnResult, drive, job_key
from vr_env.eval.envs import build_envs
from vr_env.eval.jobs import make_jobs, select_pairs
from vr_env.eval.merge import earlier_rows, merge_rows, merged_config, write_merged
from vr_env.eval.outputs import summarize, write_outputs
from vr_env.eval.parallel import Collective, detect_launch
from vr_env.eval.results import (
    CONFIG_FILE,
    METRICS_FILE,
    REPORT_FILE,
    RESULTS_FILE,
    EvalConfigError,
    ResultsFile,
    check_resume,
    to_jsonable,
)
from vr_env.eval.rows import episode_row
from vr_env.eval.shards import Shard

__all__ = ["EvalConfigError", "ResultsFile", "build_policy", "evaluate", "select_pairs"]


def build_policy(agent: Any, num_envs: int, seed: int = 0, agent_kwargs: Mapping[str, Any] | None = None) -> Any:
    """The driver's policy for ``agent``.

    A registry name makes one agent per slot (or one for every slot, if it has ``act_batch``); a list
    gives one per slot; a single agent serves one slot (reset per episode), or every slot when it
    has ``act_batch``.
    """
    if num_envs < 1:
        raise ValueError(f"num_envs must be >= 1, got {num_envs}")
    if isinstance(agent, str):
        from vr_env.agent_registry import make_agent

        options = {"seed": seed, **dict(agent_kwargs or {})}
        first = make_agent(agent, **options)
        if hasattr(first, "act_batch") and num_envs > 1:
            return first
        return [first] + [make_agent(agent, **options) for _ in range(num_envs - 1)]
    if agent_kwargs:
        raise ValueError("agent_kwargs only apply to an agent given by name")
    if isinstance(agent, (list, tuple)):
        return [as_agent(a) for a in agent]
    if hasattr(agent, "act_batch") and num_envs > 1:
        return agent
    return [as_agent(agent)] if num_envs == 1 else agent  # several slots: the driver explains the error


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
    on_turn: Callable[[TurnResult], None] | None = None,
    on_episode: Callable[[EpisodeResult], None] | None = None,
    shard: Shard | None = None,
    data_parallel: bool = False,
    prefetch: Any = None,
) -> dict[str, Any]:
    """Evaluate ``agent`` and return the metrics (see :mod:`vr_env.eval.metrics`).

    ``agent``: a registry name (``"scanner"``, ``"hf"`` with ``agent_kwargs={"model_path": ...}``,
    ``"module:attr"``), an agent object or plain callable (one env slot, or all slots if it has
    ``act_batch``), or a list of ``num_envs`` agents. ``env_kwargs``: ``VRJudgeEnv`` arguments
    (``dataset`` may be a name or a ``PairDataset``). ``limit``: the first ``limit`` pairs (of a
    seeded permutation with ``shuffle``). ``swap_check``: also play every pair with the videos
    exchanged. ``out_dir``: write and resume ``results.jsonl`` there, plus ``metrics.json``,
    ``report.md``, plots and ``config.json``; ``None`` keeps everything in memory. ``save_turns``
    keeps each turn's text in its row; ``on_turn`` / ``on_episode`` receive the driver's records.
    ``shard``: play only that shard's pairs, in ``out_dir/shards/I-of-N`` (metrics of the shard;
    :func:`vr_env.eval.merge.merge_shard_folders` merges the shards). ``data_parallel``: when this
    process is one of a ``torchrun`` / ``accelerate launch`` (world size > 1), play the shard of its
    rank, gather every shard's rows and return the metrics of the whole run on every rank; rank 0
    writes the files a single process would write in ``out_dir``. ``prefetch``: decode upcoming
    pairs ahead (:class:`vr_env.video.prefetch.PrefetchConfig`, a number of workers, ``False``: off;
    default on); results are the same either way.
    """
    launch = detect_launch() if data_parallel else None
    if launch is not None:
        if shard is not None:
            raise ValueError("a multi-process launch already shards the pairs by rank: drop the shard (--shard)")
        shard = Shard(launch.rank, launch.world_size)
    envs, dataset, dataset_name = build_envs(env_kwargs, num_envs, frame_source)
    policy = build_policy(agent, num_envs, seed, agent_kwargs)
    label = agent_label(agent)
    env_config = envs[0].config.to_dict()
    env_config["dataset"] = dataset_name
    from vr_env import __version__

    config: dict[str, Any] = {
        "agent": label,
        "agent_kwargs": dict(agent_kwargs or {}),
        "dataset": dataset_name,
        "dataset_size": len(dataset),
        "dataset_problem_count": len(dataset.problems),
        "dataset_problems": [str(p) for p in dataset.problems[:20]],
        "env": env_config,
        # The protocol template's digest: a template file edited in place does not resume into old results.
        "protocol_sha256": envs[0].texts.template.digest,
        "seed": seed,
        "limit": limit,
        "shuffle": shuffle,
        "swap_check": swap_check,
        "num_envs": num_envs,
        "args": dict(command_args or {}),
        "vr_env_version": __version__,
    }
    if shard is not None:
        config["shard"] = shard.to_dict()
    pairs = select_pairs(len(dataset), limit, shuffle, seed)
    run_jobs = make_jobs(pairs, swap_check, seed)
    jobs = shard.jobs(run_jobs, pairs) if shard is not None else run_jobs
    out = Path(out_dir) if out_dir is not None else None
    folder = shard.folder(out) if shard is not None and out is not None else out

    with Collective(launch) if launch is not None else contextlib.nullcontext() as collective:
        rows, results = _open_folder(out, folder, config, jobs, overwrite) if out is not None else ({}, None)

        def done(row: Mapping[str, Any]) -> bool:
            return row.get("status") == "ok" or not retry_skipped

        todo = [job for job in jobs if not (job.key in rows and done(rows[job.key]))]
        desc = f"eval {label}" + (f" [shard {shard.name}]" if shard is not None else "")
        bar = _progress(len(jobs), len(jobs) - len(todo), desc, enabled=progress)
        frames = getattr(envs[0], "frame_source", None)

        def record_episode(result: EpisodeResult) -> None:
            row = episode_row(result, dataset[result.job.pair_index], frames)
            rows[job_key(row["pair_index"], row["swapped"])] = row
            if results is not None:
                results.append(row)
            if on_episode is not None:
                on_episode(result)
            if bar is not None:
                bar.update(1)

        try:
            drive(
                envs,
                policy,
                todo,
                on_turn=on_turn,
                on_episode=record_episode,
                keep_actions=save_turns,
                prefetch=prefetch,
            )
        finally:
            if bar is not None:
                bar.close()
            for env in envs:
                env.close()

        selected = {job.key: rows[job.key] for job in jobs if job.key in rows}
        metrics = summarize(list(selected.values()), label, dataset_name, swap_check)
        if folder is not None:
            write_outputs(folder, metrics, plots=plots and shard is None)
        if launch is None:
            return metrics
        assert isinstance(collective, Collective) and shard is not None
        parts = collective.all_gather(selected)
    named = [(Shard(rank, shard.count).name, part) for rank, part in enumerate(parts)]
    if out is None or launch.rank != 0:
        return summarize(merge_rows(run_jobs, pairs, named)[: len(run_jobs)], label, dataset_name, swap_check)
    merged = merge_rows(run_jobs, pairs, named, earlier_rows(out, config, overwrite))
    return write_merged(out, merged_config(config, shard.count), merged, run_jobs, plots=plots)


def _open_folder(
    out: Path, folder: Path | None, config: Mapping[str, Any], jobs: Sequence[Job], overwrite: bool
) -> tuple[dict[str, dict[str, Any]], ResultsFile]:
    """Prepare the output folder (a shard's, for a shard) and load the rows of a run to resume."""
    assert folder is not None
    folder.mkdir(parents=True, exist_ok=True)
    if overwrite:
        for name in (RESULTS_FILE, METRICS_FILE, REPORT_FILE):
            (folder / name).unlink(missing_ok=True)
    sharded = folder != out
    if sharded and not overwrite:  # the merged folder must hold this run too (its rows are kept)
        check_resume(out, {k: v for k, v in config.items() if k != "shard"})
    check_resume(folder, config)
    (folder / CONFIG_FILE).write_text(json.dumps(to_jsonable(config), indent=2, sort_keys=True) + "\n", "utf-8")
    results = ResultsFile(folder / RESULTS_FILE)
    rows = results.load()
    results.path.touch()  # a shard with no pair (more shards than pairs) is still a finished folder
    if sharded and not overwrite and (out / RESULTS_FILE).is_file():
        # Episodes of this shard already in the merged folder (an earlier run, any shard count): not replayed.
        earlier = ResultsFile(out / RESULTS_FILE).load(repair=False)
        for job in jobs:
            if job.key not in rows and job.key in earlier:
                rows[job.key] = earlier[job.key]
                results.append(earlier[job.key])
    return rows, results


def _progress(total: int, initial: int, desc: str, enabled: bool) -> Any | None:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit="episode", file=sys.stderr, dynamic_ncols=True)
