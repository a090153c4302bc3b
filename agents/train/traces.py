"""Cold-start traces: a teacher plays the environment, only well-formed all-correct episodes are kept.

``build_traces(teacher, env_kwargs, limit=..., out_dir=...)`` runs any agent (a registry name such as
``"scanner"``, ``"hf"`` with a model path, an OpenAI-compatible endpoint through the ``hf`` agent's
``openai`` backend, or an agent object) through the evaluation runner (the one episode driver) with
an :class:`agents.recorder.EpisodeRecorder`: every finished episode is appended to
``out_dir/teacher_run/records.jsonl`` in the ONE record format shared with rollouts
(:class:`agents.records.EpisodeRecord`), and a rerun resumes. An episode is kept only if every turn
is well formed and the final TA, VQ, MQ and OA all match the labels.

Outputs in ``out_dir``: ``traces.jsonl`` (kept episodes), ``rejected/episodes.jsonl`` (the others, each with
its reasons in ``meta["rejected"]``), ``report.json`` / ``report.md`` (counts per reason and per
dimension). A teacher that fails mid-run (endpoint error, timeout) ends the run with its message in
the report; every episode finished before it is kept, and a rerun resumes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from agents.records import EpisodeRecord, save_jsonl
from vr_env.data.records import LABEL_KEYS

TRACES_FILE = "traces.jsonl"
REJECTED_FILE = "rejected/episodes.jsonl"  # a subfolder: ``--traces DIR`` reads only DIR/*.jsonl
REPORT_FILE = "report.json"
TEACHER_RUN = "teacher_run"
RECORDS_FILE = "records.jsonl"


def rejection_reasons(episode: EpisodeRecord) -> list[str]:
    """Why ``episode`` is not a usable trace; ``[]`` when it is (well formed, all labelled keys right).

    Reasons: ``unfinished`` (no final answer), ``malformed turn`` (a turn broke the protocol or hit
    the token limit), ``wrong TA`` / ``wrong VQ`` / ``wrong MQ`` / ``wrong OA`` (one per wrong key),
    ``no labels``.
    """
    reasons: list[str] = []
    if not episode.terminated or episode.final_answer is None:
        reasons.append("unfinished")
    if (
        episode.invalid_turns
        or any(t.format_problems or t.invalid_reason or t.finish_reason != "stop" for t in episode.turns)
        or (episode.terminated and episode.reward_components.get("format", 0.0) != 1.0)
    ):
        reasons.append("malformed turn")
    labelled = {k: v for k, v in episode.labels.items() if v is not None}
    if episode.terminated and not labelled:
        reasons.append("no labels")
    if episode.final_answer is not None:
        reasons.extend(f"wrong {k}" for k in LABEL_KEYS if k in labelled and episode.final_answer.get(k) != labelled[k])
    return reasons


@dataclass
class TraceReport:
    """What a trace-building (or rejection-sampling) run kept and why it dropped the rest."""

    teacher: str
    episodes: int = 0
    kept: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    wrong_by_dimension: dict[str, int] = field(default_factory=dict)
    correct_by_dimension: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    teacher_error: str | None = None
    out_dir: str | None = None

    def add(self, episode: EpisodeRecord, reasons: list[str]) -> None:
        self.episodes += 1
        if not reasons:
            self.kept += 1
        for reason in reasons:
            self.rejected[reason] = self.rejected.get(reason, 0) + 1
        for key in LABEL_KEYS:
            if episode.final_answer is None or episode.labels.get(key) is None:
                continue
            right = episode.final_answer.get(key) == episode.labels[key]
            bucket = self.correct_by_dimension if right else self.wrong_by_dimension
            bucket[key] = bucket.get(key, 0) + 1

    @property
    def kept_rate(self) -> float:
        return self.kept / self.episodes if self.episodes else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "kept_rate": self.kept_rate}

    def markdown(self) -> str:
        lines = [
            f"# Traces from `{self.teacher}`",
            "",
            f"- episodes played and replayed: {self.episodes}",
            f"- kept (well formed, every judgment right): {self.kept} ({100 * self.kept_rate:.1f} %)",
            f"- pairs skipped (unreadable data): {len(self.skipped)}",
        ]
        if self.teacher_error:
            lines.append(f"- **teacher stopped with an error**: {self.teacher_error}")
        lines += ["", "| rejection reason | episodes |", "|---|---|"]
        lines += [f"| {r} | {n} |" for r, n in sorted(self.rejected.items(), key=lambda kv: -kv[1])] or ["| - | 0 |"]
        lines += ["", "| key | right | wrong |", "|---|---|---|"]
        lines += [
            f"| {k} | {self.correct_by_dimension.get(k, 0)} | {self.wrong_by_dimension.get(k, 0)} |" for k in LABEL_KEYS
        ]
        lines += [f"- skipped: {s}" for s in self.skipped[:20]]
        return "\n".join(lines) + "\n"

    def write(self, out_dir: str | Path) -> None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / REPORT_FILE).write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        (out / "report.md").write_text(self.markdown(), encoding="utf-8")


def teacher_label(teacher: Any, agent_kwargs: Mapping[str, Any] | None) -> str:
    if isinstance(teacher, str):
        model = (agent_kwargs or {}).get("model_path")
        return f"{teacher}:{model}" if model else teacher
    return type(teacher).__name__


def build_traces(
    teacher: Any,
    env_kwargs: Mapping[str, Any] | None = None,
    *,
    out_dir: str | Path,
    limit: int | None = None,
    agent_kwargs: Mapping[str, Any] | None = None,
    seed: int = 0,
    shuffle: bool = False,
    swap_check: bool = False,
    num_envs: int = 1,
    progress: bool = True,
    dataset: Any | None = None,
) -> TraceReport:
    """Play ``teacher`` on the first ``limit`` pairs, filter and write traces (module docstring).

    ``dataset``: a loaded ``PairDataset`` to play on (else ``env_kwargs["dataset"]`` by name).
    """
    from agents.backends.base import BackendUnavailableError
    from agents.recorder import EpisodeRecorder
    from agents.records import load_jsonl
    from agents.train.metrics import fill_format_problems
    from vr_env.eval.results import CONFIG_FILE, RESULTS_FILE, ResultsFile
    from vr_env.eval.runner import evaluate

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    kwargs = dict(env_kwargs or {})
    if dataset is not None:
        kwargs["dataset"] = dataset
    report = TraceReport(teacher=teacher_label(teacher, agent_kwargs), out_dir=str(out))
    run_dir = out / TEACHER_RUN
    records_path = run_dir / RECORDS_FILE
    recorder = EpisodeRecorder(path=records_path)  # appended as episodes end: a rerun resumes
    try:
        evaluate(
            teacher,
            kwargs,
            limit=limit,
            swap_check=swap_check,
            out_dir=run_dir,
            num_envs=num_envs,
            seed=seed,
            shuffle=shuffle,
            agent_kwargs=agent_kwargs,
            plots=False,
            progress=progress,
            on_turn=recorder.on_turn,
            on_episode=recorder.on_episode,
        )
    except (BackendUnavailableError, TimeoutError, OSError) as error:  # the teacher failed: keep what it finished
        report.teacher_error = f"{type(error).__name__}: {error}"

    env_config = json.loads((run_dir / CONFIG_FILE).read_text(encoding="utf-8"))["env"]
    rows = ResultsFile(run_dir / RESULTS_FILE).load()
    played = {(e.pair_index, e.swapped): e for e in load_jsonl(records_path).episodes} if records_path.exists() else {}
    kept: list[EpisodeRecord] = []
    rejected: list[EpisodeRecord] = []
    for row in sorted(rows.values(), key=lambda r: (bool(r.get("swapped", False)), int(r["pair_index"]))):
        key = (int(row["pair_index"]), bool(row.get("swapped", False)))
        if row.get("status") != "ok" or key not in played:
            report.skipped.append(f"pair {key[0]} ({row.get('pair_id')}): {row.get('reason')}")
            continue
        episode = played[key]
        fill_format_problems([episode])
        episode.env = env_config
        reasons = rejection_reasons(episode)
        episode.meta = {"source": "cold-start", "teacher": report.teacher}
        report.add(episode, reasons)
        if reasons:
            episode.meta["rejected"] = reasons
            rejected.append(episode)
        else:
            kept.append(episode)
    save_jsonl(kept, out / TRACES_FILE)
    save_jsonl(rejected, out / REJECTED_FILE)
    report.write(out)
    return report
