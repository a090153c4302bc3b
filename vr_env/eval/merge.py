"""Merging shards into one evaluation folder (``vr-env merge-shards``, and rank 0 of a data-parallel run).

The merged folder holds what one process would have written for the same run: ``results.jsonl``
with the selected episodes in run order (every unswapped pair in selection order, then the swapped
ones), followed by any earlier rows of the folder outside the selection; ``metrics.json`` and
``report.md`` computed from the selected rows; ``config.json`` without the ``shard`` entry. A merge
refuses shard folders of different evaluations, a shard given twice or missing, an episode found in
two shards, and shards that have not finished (naming the shards to rerun; each resumes).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from vr_env.driver import Job
from vr_env.eval.jobs import make_jobs, select_pairs
from vr_env.eval.outputs import summarize, write_outputs
from vr_env.eval.results import CONFIG_FILE, RESULTS_FILE, RESUME_IDENTITY, ResultsFile, check_resume, to_jsonable
from vr_env.eval.shards import SHARDS_DIR, Shard, owner

Row = dict[str, Any]
#: ``config.json`` fields, beyond the resume identity, that every shard of one run shares.
SELECTION_FIELDS: tuple[str, ...] = ("dataset_size", "limit", "shuffle", "swap_check")
#: ``agent_kwargs`` entries that may differ by process (each rank loads its model on its own device).
PER_PROCESS_AGENT_KWARGS: tuple[str, ...] = ("device",)
#: Episodes named in a "missing" message.
LISTED = 5


class ShardMergeError(ValueError):
    """The shard folders cannot be merged into one evaluation (the message says why and what to do)."""


def run_selection(config: Mapping[str, Any]) -> tuple[list[int], list[Job]]:
    """The pair selection and jobs of the run ``config`` describes (as the runner made them)."""
    pairs = select_pairs(int(config["dataset_size"]), config.get("limit"), bool(config.get("shuffle")), config["seed"])
    return pairs, make_jobs(pairs, bool(config.get("swap_check")), int(config["seed"]))


def _shared(config: Mapping[str, Any]) -> dict[str, Any]:
    fields = {k: config.get(k) for k in (*RESUME_IDENTITY, *SELECTION_FIELDS) if k != "shard"}
    kwargs = dict(config.get("agent_kwargs") or {})
    fields["agent_kwargs"] = {k: v for k, v in kwargs.items() if k not in PER_PROCESS_AGENT_KWARGS}
    fields["shard_count"] = (config.get("shard") or {}).get("count")
    return to_jsonable(fields)


def merged_config(config: Mapping[str, Any], count: int) -> dict[str, Any]:
    """The merged folder's ``config.json``: a shard's, without ``shard``, with the shard count."""
    merged = {k: v for k, v in config.items() if k != "shard"}
    merged["shards"] = count
    return merged


def check_shards(configs: Sequence[tuple[Path, Mapping[str, Any]]]) -> list[tuple[Path, Shard]]:
    """Each folder's shard, sorted by index; :class:`ShardMergeError` unless they form one complete run."""
    if not configs:
        raise ShardMergeError("no shard folder given")
    first_path, first = configs[0]
    reference = _shared(first)
    shards: list[tuple[Path, Shard]] = []
    for path, config in configs:
        if not isinstance(config.get("shard"), Mapping):
            raise ShardMergeError(f"{path} is not a shard folder (its config.json has no shard; run eval --shard I/N)")
        differing = sorted(k for k, v in _shared(config).items() if reference.get(k) != v)
        if differing:
            raise ShardMergeError(
                f"{path} and {first_path} are shards of different evaluations ({', '.join(differing)} differ)"
            )
        shards.append((path, Shard.from_dict(config["shard"])))
    seen: dict[int, Path] = {}
    for path, shard in shards:
        if shard.index in seen:
            raise ShardMergeError(f"shard {shard.name} given twice: {seen[shard.index]} and {path}")
        seen[shard.index] = path
    count = shards[0][1].count
    absent = [Shard(i, count).name for i in range(count) if i not in seen]
    if absent:
        raise ShardMergeError(f"shard folder(s) {', '.join(absent)} missing (a run of {count} shards needs all)")
    return sorted(shards, key=lambda item: item[1].index)


def merge_rows(
    jobs: Sequence[Job],
    pairs: Sequence[int],
    shard_rows: Sequence[tuple[str, Mapping[str, Row]]],
    base: Mapping[str, Row] | None = None,
) -> list[Row]:
    """The rows of the merged ``results.jsonl``: the selected episodes in run order, then ``base``'s
    other rows. ``shard_rows``: (shard name, rows by key) per shard, in shard order."""
    rows: dict[str, Row] = dict(base or {})
    source: dict[str, str] = {}
    for name, part in shard_rows:
        for key, row in part.items():
            if key in source:
                raise ShardMergeError(f"episode {_describe(key)} is in two shards ({source[key]} and {name})")
            source[key] = name
            rows[key] = dict(row)
    missing = [job for job in jobs if job.key not in rows]
    if missing:
        count = len(shard_rows)
        unfinished = sorted({owner(job.pair_index, pairs, count) for job in missing})
        listed = ", ".join(_describe(job.key) for job in missing[:LISTED]) + (", ..." if len(missing) > LISTED else "")
        raise ShardMergeError(
            f"{len(missing)} of {len(jobs)} episodes have no result ({listed}); shard(s) "
            f"{', '.join(Shard(i, count).name for i in unfinished)} did not finish: rerun them (they resume)"
        )
    wanted = [job.key for job in jobs]
    chosen = set(wanted)
    return [rows[key] for key in wanted] + [row for key, row in rows.items() if key not in chosen]


def _describe(key: str) -> str:
    pair, _, swapped = key.partition(":")
    return f"pair {pair}" + (" swapped" if swapped == "1" else "")


def write_merged(
    out: Path, config: Mapping[str, Any], rows: Sequence[Row], jobs: Sequence[Job], plots: bool = True
) -> dict[str, Any]:
    """Write the merged folder (``rows`` from :func:`merge_rows`) and return its metrics."""
    out.mkdir(parents=True, exist_ok=True)
    ResultsFile(out / RESULTS_FILE).rewrite(rows)
    metrics = summarize(rows[: len(jobs)], str(config["agent"]), str(config["dataset"]), bool(config["swap_check"]))
    write_outputs(out, metrics, plots=plots)
    (out / CONFIG_FILE).write_text(json.dumps(to_jsonable(config), indent=2, sort_keys=True) + "\n", "utf-8")
    return metrics


def earlier_rows(out: Path, config: Mapping[str, Any], overwrite: bool) -> dict[str, Row]:
    """Rows already in ``out/results.jsonl`` (kept by a merge), after checking ``out`` holds this run."""
    if overwrite:
        return {}
    check_resume(out, {k: v for k, v in config.items() if k != "shard"})
    return ResultsFile(out / RESULTS_FILE).load(repair=False)


def find_shard_folders(out: Path) -> list[Path]:
    """The shard folders under ``out/shards`` (those holding a ``config.json``)."""
    root = out / SHARDS_DIR
    return sorted(p for p in root.iterdir() if (p / CONFIG_FILE).is_file()) if root.is_dir() else []


def merge_shard_folders(
    out: str | Path, folders: Sequence[str | Path] = (), plots: bool = True, overwrite: bool = False
) -> dict[str, Any]:
    """Merge shard folders (default: every folder under ``out/shards``) into ``out``; return the metrics."""
    out = Path(out)
    paths = [Path(p) for p in folders] or find_shard_folders(out)
    if not paths:
        raise ShardMergeError(f"no shard folder given and none under {out / SHARDS_DIR}")
    configs: list[tuple[Path, Mapping[str, Any]]] = []
    for path in paths:
        try:
            configs.append((path, json.loads((path / CONFIG_FILE).read_text(encoding="utf-8"))))
        except FileNotFoundError:
            raise ShardMergeError(f"{path} is not a shard folder (no {CONFIG_FILE})") from None
        except ValueError as exc:
            raise ShardMergeError(f"{path / CONFIG_FILE} is not readable JSON ({exc})") from None
    shards = check_shards(configs)
    config = dict(configs[[p for p, _ in configs].index(shards[0][0])][1])
    pairs, jobs = run_selection(config)
    shard_rows = [(f"{shard.name} ({path})", ResultsFile(path / RESULTS_FILE).load()) for path, shard in shards]
    rows = merge_rows(jobs, pairs, shard_rows, earlier_rows(out, config, overwrite))
    return write_merged(out, merged_config(config, len(shards)), rows, jobs, plots=plots)
