"""Rollout records -> the padded tensors TRL's GRPO loss reads, one row per assistant turn.

A row's ``prompt_ids``, ``completion_ids``, sampling log-probs and images are the turn record's own
(never re-tokenized; images are the record's windowed context, so an evicted frame is absent exactly
as at sampling). Rows are padded to a count that is a multiple of ``steps_per_generation`` and equal
on every rank with zero-weight copies (TRL's split drops a remainder, and every rank must call every
collective), and every row's image placeholder count is checked against its image features.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from agents.records import EpisodeRecord


@dataclass(frozen=True)
class Row:
    """One training row: a turn's exact ids, sampling log-probs and prompt images, with its weight.

    ``weight`` multiplies the row's per-token loss (0 for padding copies, dropped groups, masked
    truncated trajectories); ``advantage`` is the trajectory's group-normalized advantage.
    """

    prompt_ids: tuple[int, ...]
    completion_ids: tuple[int, ...]
    logprobs: tuple[float, ...]
    images: tuple[np.ndarray, ...]
    image_grid_thw: np.ndarray | None
    frame_ids: tuple[int, ...]
    advantage: float
    weight: float
    episode: int
    turn: int
    truncated: bool = False
    #: The turn's sampling temperature: the loss scores the row at it (``row_temperature``).
    temperature: float = 1.0


def episode_rows(episode: EpisodeRecord, advantage: float, weight: float = 1.0) -> list[Row]:
    """One row per policy turn of ``episode`` (records without token ids cannot be trained on)."""
    rows = []
    for turn in episode.turns:
        if turn.prompt_ids is None or turn.completion_ids is None or turn.logprobs is None:
            raise ValueError(
                f"episode {episode.episode} turn {turn.turn} has no token ids / log-probs: GRPO needs a backend "
                "that records them (transformers)"
            )
        if len(turn.logprobs) != len(turn.completion_ids):
            raise ValueError(
                f"episode {episode.episode} turn {turn.turn}: {len(turn.logprobs)} log-probs for "
                f"{len(turn.completion_ids)} completion ids"
            )
        visible = turn.context.visible_frames()
        rows.append(
            Row(
                prompt_ids=tuple(turn.prompt_ids),
                completion_ids=tuple(turn.completion_ids),
                logprobs=tuple(float(x) for x in turn.logprobs),
                images=tuple(f.image for f in visible),
                image_grid_thw=None if turn.image_grid_thw is None else np.asarray(turn.image_grid_thw),
                frame_ids=tuple(int(f.frame_id) for f in visible),
                advantage=float(advantage),
                weight=float(weight),
                episode=episode.episode,
                turn=turn.turn,
                truncated=turn.finish_reason == "length",
                temperature=float(turn.temperature),
            )
        )
    return rows


def padded_row_count(local: int, all_counts: Sequence[int], multiple: int) -> int:
    """Rows every rank must hold: the largest rank's count, rounded up to ``multiple``.

    >>> padded_row_count(5, [5, 7], 4)
    8
    """
    if multiple < 1:
        raise ValueError(f"multiple must be >= 1, got {multiple}")
    largest = max([local, *all_counts])
    return max(multiple, -(-largest // multiple) * multiple)


def pad_rows(rows: Sequence[Row], target: int) -> list[Row]:
    """``rows`` followed by zero-weight, zero-advantage copies (cycling through ``rows``) up to ``target``."""
    if not rows:
        raise ValueError("cannot pad an empty row list: no trajectory of this rank produced a turn")
    if target < len(rows):
        raise ValueError(f"target {target} is below the {len(rows)} rows held")
    copies = [replace(rows[i % len(rows)], weight=0.0, advantage=0.0) for i in range(target - len(rows))]
    return [*rows, *copies]


def image_token_count(prompt_ids: Sequence[int], image_token_id: int) -> int:
    return sum(1 for t in prompt_ids if t == image_token_id)


def check_image_tokens(row: Row, index: int, image_token_id: int, merge_size: int) -> None:
    """Raise if the row's placeholder count differs from its images' feature count (TRL would drop them)."""
    tokens = image_token_count(row.prompt_ids, image_token_id)
    grid = np.zeros((0, 3), dtype=int) if row.image_grid_thw is None else np.asarray(row.image_grid_thw)
    features = int(grid.prod(axis=-1).sum()) // (merge_size**2) if len(grid) else 0
    if len(grid) != len(row.images) or tokens != features:
        raise ValueError(
            f"row {index} (episode {row.episode}, turn {row.turn}): {tokens} image tokens in the prompt but "
            f"{len(row.images)} images / {len(grid)} grids giving {features} features"
        )


def build_batch(
    rows: Sequence[Row],
    processor: Any,
    *,
    pad_token_id: int,
    image_token_id: int,
    device: Any = None,
    pad_to_multiple_of: int | None = None,
) -> dict[str, Any]:
    """The loss batch of ``rows`` in TRL's layout (prompt left-padded, completion right-padded).

    Keys: ``prompt_ids``, ``prompt_mask``, ``completion_ids``, ``completion_mask``, ``tool_mask``
    (the row weight on every completion token: TRL multiplies it into the loss mask),
    ``advantages``, ``sampling_per_token_logps`` (the rollout's log-probs), ``row_temperatures`` (each
    row's sampling temperature, at which the loss scores it), ``mm_token_type_ids``
    (over prompt + completion), and when any row has images ``pixel_values``, ``image_grid_thw``,
    ``num_images``. ``num_items_in_batch`` and ``old_per_token_logps`` are the caller's (they need
    the ranks' totals and the trainer's settings).
    """
    import torch
    from trl.trainer.utils import pad

    if not rows:
        raise ValueError("no rows to build a batch from")
    image_processor = processor.image_processor
    merge = int(getattr(image_processor, "merge_size", 2))
    for index, row in enumerate(rows):
        check_image_tokens(row, index, image_token_id, merge)

    def padded(values: list[Any], value: Any, side: str, dtype: Any) -> Any:
        tensors = [torch.tensor(v, dtype=dtype) for v in values]
        return pad(tensors, padding_value=value, padding_side=side, pad_to_multiple_of=pad_to_multiple_of)

    prompt_ids = padded([list(r.prompt_ids) for r in rows], pad_token_id, "left", torch.long)
    prompt_mask = padded([[1] * len(r.prompt_ids) for r in rows], 0, "left", torch.long)
    completion_ids = padded([list(r.completion_ids) for r in rows], pad_token_id, "right", torch.long)
    completion_mask = padded([[1] * len(r.completion_ids) for r in rows], 0, "right", torch.long)
    logps = padded([list(r.logprobs) for r in rows], 0.0, "right", torch.float32)
    weights = torch.tensor([r.weight for r in rows], dtype=torch.float32)
    tool_mask = completion_mask.float() * weights[:, None]
    image_tokens = (prompt_ids == image_token_id).long() * prompt_mask
    batch: dict[str, Any] = {
        "prompt_ids": prompt_ids,
        "prompt_mask": prompt_mask,
        "completion_ids": completion_ids,
        "completion_mask": completion_mask,
        "tool_mask": tool_mask,
        "advantages": torch.tensor([r.advantage for r in rows], dtype=torch.float32),
        "sampling_per_token_logps": logps,
        "row_temperatures": torch.tensor([r.temperature for r in rows], dtype=torch.float32),
        "mm_token_type_ids": torch.cat([image_tokens, torch.zeros_like(completion_ids)], dim=1),
    }
    images = [np.array(image) for r in rows for image in r.images]  # cached frames are read-only
    if images:
        vision = image_processor(images=images, return_tensors="pt")
        recorded = [np.asarray(r.image_grid_thw) for r in rows if r.images]
        if not np.array_equal(np.concatenate(recorded), vision["image_grid_thw"].numpy()):
            raise ValueError("image grids recomputed from the records differ from the sampled ones")
        batch["pixel_values"] = vision["pixel_values"]
        batch["image_grid_thw"] = vision["image_grid_thw"]
        batch["num_images"] = [len(r.images) for r in rows]
    if device is not None:
        batch = {k: v.to(device) if hasattr(v, "to") else v for k, v in batch.items()}
    return batch
