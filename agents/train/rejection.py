"""Rejection-sampling fine-tuning: sample K trajectories per pair, keep the right ones, SFT on them.

``sample_accepted(model, env_kwargs, out_dir, config)`` plays ``samples_per_pair`` episodes per pair
through :class:`agents.rollout.RolloutEngine` at the paper's sampling settings, keeps the episodes
that are well formed in every turn and right on every labelled key (``agents.train.traces.
rejection_reasons``), drops duplicates (identical sampled ids in every turn), keeps at most
``max_per_pair`` per pair, and appends every sample, accepted or not, to ``samples.jsonl`` and the
accepted ones to ``accepted.jsonl`` (one record format; the sampled ids, log-probs and env config
included). Pairs are sampled in chunks that are written as they finish: a rerun skips the pairs
already in ``samples.jsonl``. ``train_rs`` then runs :func:`agents.train.sft.train_sft` on the
accepted records, which learns the sampled ids themselves (no decode/re-encode round trip).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from agents.records import EpisodeRecord, load_jsonl, save_jsonl
from agents.train.config import RejectionConfig, SFTRunConfig, describe, save_config
from agents.train.metrics import fill_format_problems
from agents.train.traces import rejection_reasons
from vr_env.data.records import LABEL_KEYS

SAMPLES_FILE = "samples.jsonl"
ACCEPTED_FILE = "accepted.jsonl"
REPORT_FILE = "rs_report.json"
#: Pairs per rollout call (each call's samples are written before the next starts).
CHUNK_PAIRS = 8


@dataclass
class RejectionReport:
    """Acceptance overall and per dimension, and the pairs left without an accepted trace."""

    checkpoint: str
    pairs: int = 0
    samples: int = 0
    accepted: int = 0
    duplicates: int = 0
    over_cap: int = 0
    correct_by_dimension: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)
    pairs_without_accepted: list[int] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)

    @property
    def acceptance_rate(self) -> float:
        return self.accepted / self.samples if self.samples else 0.0

    def to_dict(self) -> dict[str, Any]:
        n = max(self.samples, 1)
        return {
            **asdict(self),
            "acceptance_rate": self.acceptance_rate,
            "dimension_accuracy": {k: self.correct_by_dimension.get(k, 0) / n for k in LABEL_KEYS},
            "pairs_without_accepted_count": len(self.pairs_without_accepted),
        }


def _signature(episode: EpisodeRecord) -> tuple[Any, ...]:
    """Identity of a trajectory: its sampled ids per turn (texts where ids are unknown)."""
    return tuple(tuple(t.completion_ids) if t.completion_ids is not None else t.text for t in episode.turns)


def filter_group(episodes: Sequence[EpisodeRecord], max_per_pair: int, report: RejectionReport) -> list[EpisodeRecord]:
    """The accepted episodes of one pair's group (well formed, all right, unique, capped); marks ``meta``."""
    accepted: list[EpisodeRecord] = []
    seen: set[tuple[Any, ...]] = set()
    for episode in episodes:
        report.samples += 1
        reasons = rejection_reasons(episode)
        for key in LABEL_KEYS:
            if episode.final_answer is not None and episode.final_answer.get(key) == episode.labels.get(key):
                report.correct_by_dimension[key] = report.correct_by_dimension.get(key, 0) + 1
        signature = _signature(episode)
        if not reasons and signature in seen:
            reasons, report.duplicates = ["duplicate"], report.duplicates + 1
        elif not reasons and len(accepted) >= max_per_pair:
            reasons, report.over_cap = ["over the per-pair cap"], report.over_cap + 1
        for reason in reasons:
            report.rejected[reason] = report.rejected.get(reason, 0) + 1
        episode.meta["accepted"] = not reasons
        if reasons:
            episode.meta["rejected"] = reasons
            continue
        seen.add(signature)
        accepted.append(episode)
    report.accepted += len(accepted)
    return accepted


def _done_pairs(path: Path) -> set[int]:
    if not path.exists():
        return set()
    return {e.pair_index for e in load_jsonl(path).episodes}


def sample_accepted(
    model_path: str | Path,
    env_kwargs: dict[str, Any] | None,
    out_dir: str | Path,
    config: RejectionConfig | None = None,
    *,
    device: str | None = None,
    verbose: bool = True,
    script: Any | None = None,
) -> RejectionReport:
    """Sample, filter and write ``samples.jsonl`` / ``accepted.jsonl`` / ``rs_report.json`` in ``out_dir``.

    ``script``: scripted turns for tests (``agents.rollout.Script``; the ids stay the model's forward pass).
    """
    import numpy as np

    from agents.backends.base import GenerationSettings
    from agents.backends.transformers_backend import TransformersBackend
    from agents.rollout import RolloutEngine, default_env_factory
    from agents.train.sft import check_model_path
    from vr_env.eval.jobs import select_pairs

    config = config or RejectionConfig()
    check_model_path(model_path)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    factory = default_env_factory(**(env_kwargs or {}))
    probe = factory()
    size = len(probe.unwrapped.dataset)
    env_config = probe.unwrapped.config.to_dict()
    probe.close()
    order = select_pairs(size, None, config.shuffle, config.seed)[config.offset :]
    pairs = order if config.limit is None else order[: config.limit]
    done = _done_pairs(out / SAMPLES_FILE)
    todo = [p for p in pairs if p not in done]
    settings = GenerationSettings(
        temperature=config.temperature,
        top_p=config.top_p,
        top_k=config.top_k,
        max_new_tokens=config.max_new_tokens,
        temperature_after_first=config.temperature_after_first,
    )
    backend = TransformersBackend.from_pretrained(model_path, device=device, max_batch_size=config.max_batch_size)
    engine = RolloutEngine(
        backend, factory, group_size=config.samples_per_pair, settings=settings, seed=config.seed, script=script
    )
    chunk_report = RejectionReport(checkpoint=str(model_path))
    try:
        for start in range(0, len(todo), CHUNK_PAIRS):
            chunk = todo[start : start + CHUNK_PAIRS]
            engine.seed = int(np.random.SeedSequence([config.seed, *chunk]).generate_state(1)[0] >> 1)
            result = engine.run(chunk)
            chunk_report.skipped.extend(result.skipped)
            fill_format_problems(result.episodes)
            accepted = []
            for members in result.groups().values():
                for episode in members:
                    episode.env = env_config
                    episode.meta = {"source": "rejection-sampling", "checkpoint": str(model_path)}
                accepted += filter_group(members, config.max_per_pair, chunk_report)
            save_jsonl(result.episodes, out / SAMPLES_FILE, append=True)
            save_jsonl(accepted, out / ACCEPTED_FILE, append=True)
            if verbose:
                print(f"sampled {start + len(chunk)}/{len(todo)} pairs: {chunk_report.accepted} accepted", flush=True)
    finally:
        engine.close()
    report = summarize(out, str(model_path), pairs)
    report.skipped = chunk_report.skipped
    (out / REPORT_FILE).write_text(json.dumps(report.to_dict(), indent=2) + "\n", encoding="utf-8")
    return report


def summarize(out_dir: str | Path, checkpoint: str, pairs: Sequence[int]) -> RejectionReport:
    """The report over everything in ``samples.jsonl`` for ``pairs`` (including earlier, resumed runs)."""
    out = Path(out_dir)
    report = RejectionReport(checkpoint=checkpoint, pairs=len(pairs))
    samples = load_jsonl(out / SAMPLES_FILE).episodes if (out / SAMPLES_FILE).exists() else []
    wanted = set(pairs)
    by_pair: dict[int, list[EpisodeRecord]] = {}
    for episode in samples:
        if episode.pair_index in wanted:
            by_pair.setdefault(episode.pair_index, []).append(episode)
    accepted_pairs = set()
    for pair, members in by_pair.items():
        report.samples += len(members)
        for episode in members:
            for key in LABEL_KEYS:
                if episode.final_answer is not None and episode.final_answer.get(key) == episode.labels.get(key):
                    report.correct_by_dimension[key] = report.correct_by_dimension.get(key, 0) + 1
            for reason in episode.meta.get("rejected", []):
                report.rejected[reason] = report.rejected.get(reason, 0) + 1
            if episode.meta.get("accepted"):
                report.accepted += 1
                accepted_pairs.add(pair)
        report.duplicates += sum("duplicate" in e.meta.get("rejected", []) for e in members)
        report.over_cap += sum("over the per-pair cap" in e.meta.get("rejected", []) for e in members)
    report.pairs_without_accepted = sorted(p for p in by_pair if p not in accepted_pairs)
    return report


def train_rs(
    model_path: str | Path,
    env_kwargs: dict[str, Any] | None,
    out_dir: str | Path,
    config: RejectionConfig | None = None,
    sft_config: SFTRunConfig | None = None,
    *,
    device: str | None = None,
    verbose: bool = True,
) -> tuple[RejectionReport, Any]:
    """Sample and filter (into ``out_dir/samples``), then SFT ``model_path`` on the accepted samples."""
    from agents.train.sft import check_model_path, train_sft

    config = config or RejectionConfig()
    check_model_path(model_path)
    out = Path(out_dir)
    save_config(out, "rs_config.json", rejection=config, model=str(model_path), env=env_kwargs or {})
    if verbose:
        print(f"rejection sampling configuration:\n{describe(config)}", flush=True)
    report = sample_accepted(model_path, env_kwargs, out / "samples", config, device=device, verbose=verbose)
    if verbose:
        print(
            f"accepted {report.accepted}/{report.samples} samples ({100 * report.acceptance_rate:.1f} %); "
            f"{len(report.pairs_without_accepted)} of {report.pairs} pairs without an accepted trace",
            flush=True,
        )
    if report.accepted == 0:
        raise ValueError(f"no sample was accepted (see {out / 'samples' / REPORT_FILE}); nothing to fine-tune on")
    result = train_sft(model_path, out / "samples" / ACCEPTED_FILE, out, sft_config, verbose=verbose)
    return report, result
