"""The judge in the shapes generator-training code calls a reward in.

- :class:`TRLRewardFunction`: a TRL ``reward_funcs`` entry, ``f(prompts, completions, **kwargs) ->
  list[float]``;
- :class:`FlowGRPOReward`: Flow-GRPO's ``fn(videos, prompts, metadata) -> (scores, info)``;
- :func:`preference_pairs`: chosen/rejected rows for DPO-style training, from groups' verdicts.

**Groups are prompts, not positions.** A batch's samples are grouped by prompt text wherever they
sit. When ``torch.distributed`` is initialised (``torchrun``; ``accelerate launch`` initialises it)
and the scheme compares samples with each other (``round_robin``, ``sparse``), every process's
samples are gathered (``all_gather_object``), the prompt groups are split between the processes to
judge (group ``g`` on rank ``g % world_size``), and the scores are gathered back: each process returns
the scores of its own samples, exactly as one process holding the whole batch would. Within a group
the videos are put in a fixed order (by a hash of their content), so the layout of the batch does
not change the scores. ``mode="anchor"`` compares each sample with reference videos only: no gather.

**Unscorable samples** (an unreadable video, no valid answer, a prompt with one sample under a
pairwise scheme) never return ``None`` or NaN (one NaN spoils Flow-GRPO's per-prompt mean/std, and
TRL sums ``None`` as 0): they get ``unscorable_score``, by default the mean score of the scorable
samples of their prompt group (0.5 when none is scorable), so their advantage is about zero. They
are counted (``vr_judge/unscorable`` in TRL, ``info["unscorable_count"]`` in Flow-GRPO) and their
reasons reported.

**Dimensions.** ``weights={"OA": 1.0}`` by default; e.g. ``{"OA": 1, "MQ": 0.5}`` makes the reward
``OA + 0.5 * MQ`` of the per-dimension scores, all from the same comparisons.

Videos are paths, uint8/float frame arrays, or CPU/GPU torch tensors (moved to the CPU here).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agents.judge.gather import all_gather, world
from agents.judge.groups import GroupScores, score_groups
from agents.judge.judge import Judge
from agents.judge.schemes import DEFAULT_K, MODES
from vr_env.protocol.labels import LABEL_KEYS


def to_video(video: Any) -> Any:
    """A path stays a path; a torch tensor becomes a CPU numpy array; arrays pass through."""
    if hasattr(video, "detach"):
        video = video.detach().float().cpu().numpy()
    return video


def prompt_text(prompt: Any) -> str:
    """A prompt as text: a string, or the last user message of a chat (TRL conversational prompts)."""
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list) and prompt and isinstance(prompt[-1], dict):
        content = prompt[-1].get("content", "")
        if isinstance(content, list):
            return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
        return str(content)
    raise TypeError(f"cannot read a prompt of type {type(prompt).__name__}")


def content_key(video: Any) -> str:
    """A layout-independent sort key of a video: a hash of an array's bytes and shape, or the path."""
    if isinstance(video, np.ndarray):
        digest = hashlib.sha1(np.ascontiguousarray(video).tobytes(), usedforsecurity=False)
        digest.update(repr((video.shape, str(video.dtype))).encode())
        return "array:" + digest.hexdigest()
    return "path:" + str(video)


def prompt_groups(prompts: Sequence[str], videos: Sequence[Any] | None = None) -> list[list[int]]:
    """Indices grouped by prompt (groups in order of first appearance), members ordered by content.

    >>> prompt_groups(["a", "b", "a", "b", "c"], ["v2", "v1", "v1", "v3", "v9"])
    [[2, 0], [1, 3], [4]]
    """
    groups: dict[str, list[int]] = {}
    for index, prompt in enumerate(prompts):
        groups.setdefault(prompt, []).append(index)
    if videos is None:
        return list(groups.values())
    keys = [content_key(v) for v in videos]
    return [sorted(members, key=lambda i: (keys[i], i)) for members in groups.values()]


@dataclass
class BatchScores:
    """One batch's rewards on this process: ``scores`` (unscorable filled in), the raw values and why.

    ``raw[i]`` is ``None`` for an unscorable sample; ``dimensions[key][i]`` per dimension; ``groups``:
    this process's samples by prompt; ``results``: the groups this process judged; the totals are
    over all processes.
    """

    scores: list[float]
    raw: list[float | None]
    dimensions: dict[str, list[float | None]]
    reasons: dict[int, list[str]]
    groups: list[list[int]]
    results: list[GroupScores] = field(default_factory=list)
    judge_calls: int = 0
    seconds: float = 0.0
    first_position_share: float | None = None

    @property
    def unscorable_count(self) -> int:
        return sum(value is None for value in self.raw)


class _GroupReward:
    """Shared core: group the (gathered) batch by prompt, judge the groups, scatter the scores back."""

    def __init__(
        self,
        judge: Judge,
        *,
        mode: str = "round_robin",
        soft: bool = False,
        both_orders: bool | None = None,
        orders: str = "balanced",
        k: int = DEFAULT_K,
        weights: dict[str, float] | None = None,
        unscorable_score: float | None = None,
        gather: bool = True,
        process_group: Any = None,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown group scoring mode {mode!r}; choose one of {MODES}")
        unknown = set(weights or {}) - set(LABEL_KEYS)
        if unknown:
            raise ValueError(f"unknown dimension(s) {sorted(unknown)} in weights; choose from {list(LABEL_KEYS)}")
        self.judge = judge
        self.mode = mode
        self.options = {"soft": soft, "both_orders": both_orders, "orders": orders, "k": k}
        self.weights = dict(weights or {"OA": 1.0})
        self.unscorable_score = unscorable_score
        self.gather = gather
        self.process_group = process_group
        self.last: BatchScores | None = None

    def score(self, videos: Sequence[Any], prompts: Sequence[Any], anchors: Sequence[Any] | None = None) -> BatchScores:
        if len(videos) != len(prompts):
            raise ValueError(f"{len(videos)} videos but {len(prompts)} prompts")
        texts = [prompt_text(p) for p in prompts]
        local = [to_video(v) for v in videos]
        rank, size = world(self.process_group)
        spread = size > 1 and self.gather and self.mode != "anchor"
        offset = 0
        if spread:
            parts = all_gather((texts, local), self.process_group)
            offset = sum(len(part[0]) for part in parts[:rank])
            texts = [t for part in parts for t in part[0]]
            local = [v for part in parts for v in part[1]]
        groups = prompt_groups(texts, local)
        mine = [g for n, g in enumerate(groups) if not spread or n % size == rank]
        values, results = self._judge(mine, texts, local, anchors)
        stats = (sum(r.judge_calls for r in results), sum(r.seconds for r in results), _shares(results))
        if spread:
            merged: dict[int, Any] = {}
            every = all_gather((values, stats), self.process_group)
            for part, _ in every:
                merged.update(part)
            values = merged
            shares = [s for _, part_stats in every for s in part_stats[2]]
            stats = (sum(s[1][0] for s in every), sum(s[1][1] for s in every), shares)
        return self._fill(values, len(videos), offset, groups, results, stats)

    def _judge(
        self, groups: list[list[int]], texts: list[str], videos: list[Any], anchors: Sequence[Any] | None
    ) -> tuple[dict[int, Any], list[GroupScores]]:
        """``{global index: (dimension scores, reasons)}`` for the samples of ``groups``."""
        pairwise = self.mode != "anchor"
        values: dict[int, Any] = {}
        batch, judged = [], []
        for members in groups:
            if pairwise and len(members) < 2:
                reason = f"no other sample of its prompt in the batch ({self.mode} needs at least 2 per prompt)"
                values[members[0]] = ({key: None for key in LABEL_KEYS}, [reason])
                continue
            batch.append((texts[members[0]], [videos[i] for i in members]))
            judged.append(members)
        if not batch:
            return values, []
        group_anchors = None
        if not pairwise:
            assert anchors is not None
            group_anchors = [_references(anchors[members[0]]) for members in judged]
        results = score_groups(self.judge, batch, mode=self.mode, anchors=group_anchors, **self.options)  # type: ignore[arg-type]
        for members, result in zip(judged, results, strict=True):
            for position, index in enumerate(members):
                dims = {key: result.dimensions[key][position] for key in LABEL_KEYS}
                values[index] = (dims, result.unscorable.get(position, []))
        return values, results

    def _fill(
        self,
        values: dict[int, Any],
        count: int,
        offset: int,
        groups: list[list[int]],
        results: list[GroupScores],
        stats: tuple[int, float, list[float]],
    ) -> BatchScores:
        """This process's rewards; an unscorable sample gets the mean of its WHOLE prompt group (all processes)."""
        raw: dict[int, float | None] = {}
        for index, (dims, _) in values.items():
            parts = [dims[key] for key in self.weights]
            raw[index] = (
                None if any(p is None for p in parts) else float(sum(w * dims[k] for k, w in self.weights.items()))
            )
        filled: dict[int, float] = {}
        for members in groups:
            scorable = [raw[i] for i in members if raw[i] is not None]
            neutral = self.unscorable_score
            if neutral is None:
                neutral = sum(scorable) / len(scorable) if scorable else 0.5 * sum(self.weights.values())  # type: ignore[arg-type]
            for i in members:
                value = raw[i]
                filled[i] = float(neutral) if value is None else value
        local = range(offset, offset + count)
        dimensions = {key: [values[i][0][key] for i in local] for key in LABEL_KEYS}
        reasons = {i - offset: values[i][1] or ["no scorable comparison"] for i in local if raw[i] is None}
        local_groups = [[i - offset for i in g if offset <= i < offset + count] for g in groups]
        share = sum(stats[2]) / len(stats[2]) if stats[2] else None
        result = BatchScores(
            scores=[filled[i] for i in local],
            raw=[raw[i] for i in local],
            dimensions=dimensions,
            reasons=reasons,
            groups=[g for g in local_groups if g],
            results=results,
            judge_calls=stats[0],
            seconds=stats[1],
            first_position_share=share,
        )
        self.last = result
        return result


def _references(value: Any) -> Any:
    """An anchor-mode reference: one video or a list of videos (tensors moved to the CPU)."""
    if isinstance(value, (list, tuple)):
        return [to_video(v) for v in value]
    return to_video(value)


def _shares(results: list[GroupScores]) -> list[float]:
    return [r.first_position_share for r in results if r.first_position_share is not None]


class TRLRewardFunction(_GroupReward):
    """``reward_funcs=[TRLRewardFunction(judge)]`` for TRL's GRPO-style trainers.

    ``completions`` are the generated videos. In anchor mode the reference video(s) come from the
    dataset column named ``anchor_column`` (TRL passes dataset columns as keyword arguments; a cell
    may hold one video or a list). When TRL passes ``log_metric`` (TRL 1.16 does), the batch's judge
    calls, seconds, unscorable share and first-position share are logged under ``vr_judge/``.
    """

    __name__ = "vr_judge"

    def __init__(self, judge: Judge, *, anchor_column: str = "reference_video", **kwargs: Any) -> None:
        super().__init__(judge, **kwargs)
        self.anchor_column = anchor_column

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float]:
        anchors = kwargs.get(self.anchor_column) if self.mode == "anchor" else None
        if self.mode == "anchor" and anchors is None:
            raise ValueError(f"anchor mode needs the dataset column {self.anchor_column!r} (reference videos)")
        batch = self.score(completions, prompts, anchors)
        log_metric = kwargs.get("log_metric")
        if callable(log_metric):
            log_metric("vr_judge/judge_calls", float(batch.judge_calls))
            log_metric("vr_judge/seconds", float(batch.seconds))
            log_metric("vr_judge/unscorable", batch.unscorable_count / max(len(batch.scores), 1))
            if batch.first_position_share is not None:
                log_metric("vr_judge/first_position_share", batch.first_position_share)
        return batch.scores


class FlowGRPOReward(_GroupReward):
    """Flow-GRPO reward function ``fn(videos, prompts, metadata) -> (scores, info)``.

    ``videos``: a sequence of videos or one batched array/tensor ``(B, T, ...)``. ``metadata`` may hold
    ``reference_video`` (one video or a list) per sample for anchor mode. ``scores``: float64, never
    NaN. ``info``: ``unscorable`` (sample -> reasons), ``unscorable_count``, ``judge_calls``, ``seconds``,
    ``first_position_share``, ``dimensions`` (key -> float64 array, NaN where unscorable) and ``groups``.
    """

    def __call__(
        self, videos: Any, prompts: Sequence[Any], metadata: Sequence[dict[str, Any]] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        if not isinstance(videos, (list, tuple)):
            videos = list(to_video(videos))
        anchors = None
        if self.mode == "anchor":
            if metadata is None or any("reference_video" not in m for m in metadata):
                raise ValueError("anchor mode needs metadata[i]['reference_video'] for every sample")
            anchors = [m["reference_video"] for m in metadata]
        batch = self.score(videos, prompts, anchors)
        info = {
            "unscorable": batch.reasons,
            "unscorable_count": batch.unscorable_count,
            "judge_calls": batch.judge_calls,
            "seconds": batch.seconds,
            "first_position_share": batch.first_position_share,
            "dimensions": {
                key: np.array([np.nan if v is None else v for v in values], dtype=np.float64)
                for key, values in batch.dimensions.items()
            },
            "groups": batch.groups,
        }
        return np.asarray(batch.scores, dtype=np.float64), info


def preference_pairs(
    prompt: str, videos: Sequence[Any], result: GroupScores, ids: Sequence[str] | None = None
) -> Iterable[dict[str, Any]]:
    """DPO rows ``{"prompt", "chosen", "rejected", ...}`` from a group's decisive verdicts between its videos.

    ``ids`` name the videos in the rows (default: the paths). Ties, unscorable pairs and comparisons
    with reference videos give no row. Judge with ``both_orders=True`` so that a preference for a
    position alone becomes a tie (no row).
    """
    names = list(ids) if ids is not None else [str(v) for v in videos]
    for (i, j), verdict in zip(result.pairs, result.verdicts, strict=True):
        if not verdict.ok or verdict.overall == 0 or i < 0 or j < 0:
            continue
        chosen, rejected = (i, j) if verdict.overall == 1 else (j, i)
        preference = verdict.preference
        yield {
            "prompt": prompt,
            "chosen": names[chosen],
            "rejected": names[rejected],
            "chosen_index": chosen,
            "rejected_index": rejected,
            "winners": verdict.winners,
            "probability": None if preference is None else (preference if chosen == i else 1.0 - preference),
            "agreement": verdict.agreement,
        }
