"""The judge in the shapes generator-training code calls a reward in.

- :class:`TRLRewardFunction`: a TRL ``reward_funcs`` entry, ``f(prompts, completions, **kwargs) ->
  list[float | None]``; consecutive completions with the same prompt form a group (TRL lays out the
  ``num_generations`` samples of a prompt next to each other); ``None`` = unscorable (TRL skips it).
- :class:`FlowGRPOReward`: Flow-GRPO's ``fn(videos, prompts, metadata) -> (scores, info)``; scores
  are a float array, ``nan`` where unscorable, and ``info`` carries the reasons, the per-group
  judge-call counts and time.
- :func:`preference_pairs`: chosen/rejected rows for DPO-style training, from groups' verdicts.

Videos are paths, uint8/float frame arrays, or CPU/GPU torch tensors (moved to the CPU here).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from agents.judge.groups import GroupScores, score_groups
from agents.judge.judge import Judge


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


def consecutive_groups(prompts: Sequence[str], group_size: int | None = None) -> list[list[int]]:
    """Indices grouped by runs of equal prompts, or in fixed chunks of ``group_size``.

    >>> consecutive_groups(["a", "a", "b", "b", "a"]), consecutive_groups(["a"] * 4, 2)
    ([[0, 1], [2, 3], [4]], [[0, 1], [2, 3]])
    """
    if group_size is not None:
        if group_size < 1 or len(prompts) % group_size:
            raise ValueError(f"{len(prompts)} samples do not split into groups of {group_size}")
        return [list(range(i, i + group_size)) for i in range(0, len(prompts), group_size)]
    groups: list[list[int]] = []
    for index, prompt in enumerate(prompts):
        if groups and prompts[groups[-1][0]] == prompt:
            groups[-1].append(index)
        else:
            groups.append([index])
    return groups


class _GroupReward:
    """Shared core: split a batch into groups, score them in one judge run, scatter the scores back."""

    def __init__(
        self,
        judge: Judge,
        *,
        mode: str = "round_robin",
        soft: bool = False,
        both_orders: bool | None = None,
        group_size: int | None = None,
    ) -> None:
        self.judge = judge
        self.mode = mode
        self.soft = soft
        self.both_orders = both_orders
        self.group_size = group_size
        self.last_groups: list[GroupScores] = []

    def score(
        self, videos: Sequence[Any], prompts: Sequence[Any], anchors: Sequence[Any] | None = None
    ) -> tuple[list[float | None], list[GroupScores], list[list[int]]]:
        if len(videos) != len(prompts):
            raise ValueError(f"{len(videos)} videos but {len(prompts)} prompts")
        texts = [prompt_text(p) for p in prompts]
        groups = consecutive_groups(texts, self.group_size)
        alone = [g for g in groups if len(g) < 2] if self.mode == "round_robin" else []
        if alone:
            raise ValueError(
                f"round-robin scoring needs groups of >= 2 videos per prompt; sample(s) {alone[0]} stand alone "
                "(are the group's samples consecutive? pass group_size or use mode='anchor')"
            )
        batch = [(texts[g[0]], [to_video(videos[i]) for i in g]) for g in groups]
        group_anchors = None if anchors is None else [to_video(anchors[g[0]]) for g in groups]
        results = score_groups(
            self.judge, batch, mode=self.mode, anchors=group_anchors, soft=self.soft, both_orders=self.both_orders
        )
        scores: list[float | None] = [None] * len(videos)
        for members, result in zip(groups, results, strict=True):
            for index, value in zip(members, result.scores, strict=True):
                scores[index] = value
        self.last_groups = results
        return scores, results, groups


class TRLRewardFunction(_GroupReward):
    """``reward_funcs=[TRLRewardFunction(judge)]`` for TRL's GRPO-style trainers.

    ``completions`` are the generated videos. In anchor mode the reference videos come from the
    dataset column named ``anchor_column`` (TRL passes dataset columns as keyword arguments). When
    TRL passes ``log_metric`` (TRL 1.16 does), the judge calls, seconds and unscorable share of the
    batch are logged as ``vr_judge/judge_calls``, ``vr_judge/seconds``, ``vr_judge/unscorable``.
    """

    __name__ = "vr_judge"

    def __init__(self, judge: Judge, *, anchor_column: str = "reference_video", **kwargs: Any) -> None:
        super().__init__(judge, **kwargs)
        self.anchor_column = anchor_column

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
        anchors = kwargs.get(self.anchor_column) if self.mode == "anchor" else None
        if self.mode == "anchor" and anchors is None:
            raise ValueError(f"anchor mode needs the dataset column {self.anchor_column!r} (reference videos)")
        scores, results, _ = self.score(completions, prompts, anchors)
        log_metric = kwargs.get("log_metric")
        if callable(log_metric):
            log_metric("vr_judge/judge_calls", float(sum(r.judge_calls for r in results)))
            log_metric("vr_judge/seconds", float(sum(r.seconds for r in results)))
            log_metric("vr_judge/unscorable", sum(s is None for s in scores) / max(len(scores), 1))
        return scores


class FlowGRPOReward(_GroupReward):
    """Flow-GRPO reward function ``fn(videos, prompts, metadata) -> (scores, info)``.

    ``videos``: a sequence of videos or one batched array/tensor ``(B, T, ...)``. ``metadata`` may hold
    ``reference_video`` per sample for anchor mode. ``scores`` is float64, ``nan`` for unscorable samples.
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
        scores, results, groups = self.score(videos, prompts, anchors)
        array = np.array([np.nan if s is None else s for s in scores], dtype=np.float64)
        unscorable = {
            members[video]: reasons
            for members, result in zip(groups, results, strict=True)
            for video, reasons in result.unscorable.items()
            if scores[members[video]] is None
        }
        info = {
            "unscorable": unscorable,
            "judge_calls": sum(r.judge_calls for r in results),
            "seconds": sum(r.seconds for r in results),
            "groups": [members for members in groups],
        }
        return array, info


def preference_pairs(
    prompt: str, videos: Sequence[Any], result: GroupScores, ids: Sequence[str] | None = None
) -> Iterable[dict[str, Any]]:
    """DPO rows ``{"prompt", "chosen", "rejected", ...}`` from a round-robin group's decisive verdicts.

    ``ids`` name the videos in the rows (default: the paths). Ties and unscorable pairs give no row.
    """
    names = list(ids) if ids is not None else [str(v) for v in videos]
    for (i, j), verdict in zip(result.pairs, result.verdicts, strict=True):
        if not verdict.ok or verdict.overall == 0 or j < 0:
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
