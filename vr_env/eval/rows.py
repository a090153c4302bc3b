"""Result rows: one JSON object per played (``status="ok"``) or skipped episode."""

from __future__ import annotations

import math
from typing import Any

from vr_env.data.records import PairRecord
from vr_env.driver import EpisodeResult, Job
from vr_env.video.ref import VideoRef


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


def oriented(record: PairRecord, swapped: bool) -> PairRecord:
    """``record`` as the episode saw it (videos exchanged when ``swapped``)."""
    return record.swapped() if swapped else record


def episode_row(result: EpisodeResult, record: PairRecord, frame_source: Any | None = None) -> dict[str, Any]:
    """The row of an episode result (a finished episode, or a skipped one with its reason)."""
    if not result.ok:
        return skipped_row(result.job, record, result.reason or "skipped")
    job, pair = result.job, oriented(record, result.job.swapped)
    row: dict[str, Any] = {
        "pair_index": job.pair_index,
        "pair_id": record.pair_id,
        "swapped": job.swapped,
        "status": "ok",
        "reason": None,
        "labels": dict(result.labels or pair.labels),
        "final_answer": result.final_answer,
        "reward": float(result.total_reward),
        "reward_components": dict(result.reward_components),
        "tool_calls": result.tool_calls,
        "frames_fetched": result.frames_fetched,
        "invalid_turns": result.invalid_turns,
        "turns": result.turns,
        "terminated": result.terminated,
        "truncated": result.truncated,
        "video_1": video_meta(pair.video_1, frame_source),
        "video_2": video_meta(pair.video_2, frame_source),
        "seconds": round(float(result.seconds), 4),
    }
    if result.actions is not None:
        row["turn_texts"] = [str(a) for a in result.actions]
    return row


def skipped_row(job: Job, record: PairRecord | None, reason: str) -> dict[str, Any]:
    """The row of an episode that could not be played."""
    row: dict[str, Any] = {
        "pair_index": job.pair_index,
        "pair_id": record.pair_id if record is not None else None,
        "swapped": job.swapped,
        "status": "skipped",
        "reason": reason,
    }
    if record is not None:
        pair = oriented(record, job.swapped)
        row.update(labels=dict(pair.labels), video_1=video_meta(pair.video_1), video_2=video_meta(pair.video_2))
    return row
