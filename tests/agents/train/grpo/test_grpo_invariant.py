"""The windowed GRPO invariant: the loss sees exactly the context that was sampled.

p = 1, two and three tool calls per trajectory, scripted generation (forced ids, real forward
passes), the paper's temperatures (first turn 1.0, later turns 0.9). At the first optimization step,
the per-token log-probabilities that TRL's loss computes (each row at its own temperature) equal the
rollout's in float32 for every policy token; prompt and tool-result tokens carry no loss;
a frame evicted by the memory window is absent from its row's images exactly as at sampling.
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch


def _script(turns: SimpleNamespace) -> Callable[[int, int, dict[str, Any]], str]:
    plans = {
        0: [turns.tool([1, 2, 20]), turns.tool([5, 30]), turns.final("TA=2, VQ=2, MQ=2, OA=2")],
        1: [turns.tool([3, 17]), turns.tool([4, 18, 25]), turns.tool([6]), turns.final()],
    }
    return lambda episode, turn, info: plans[episode % 2][turn]


@pytest.fixture(scope="module")
def captured(tiny_model_dir: Any, tmp_path_factory: pytest.TempPathFactory, turns: SimpleNamespace) -> SimpleNamespace:
    """One GRPO step (two micro-batches in one optimizer step) with every loss call recorded."""
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from agents.train.grpo import WindowedGRPOTrainer
    from agents.train.grpo.config import WindowedGRPOConfig

    torch.set_num_threads(1)
    model = AutoModelForImageTextToText.from_pretrained(str(tiny_model_dir), dtype=torch.float32)
    processor = AutoProcessor.from_pretrained(str(tiny_model_dir))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    args = WindowedGRPOConfig(
        output_dir=str(tmp_path_factory.mktemp("grpo-invariant")),
        use_cpu=True,
        bf16=False,
        max_steps=1,
        num_generations=2,
        per_device_train_batch_size=1,
        gradient_accumulation_steps=2,  # both chunks of the generation batch in the first optimizer step
        env_kwargs={"frames_per_video": 16, "max_tool_calls": 3, "memory_window": 1},
        max_completion_length=8,
        report_to=[],
        save_strategy="no",
        dynamic_sampling=False,
        learning_rate=1e-2,
        seed=0,
        temperature=1.0,
        temperature_after_first=0.9,
    )
    trainer = WindowedGRPOTrainer(model, args, processor, script=_script(turns))
    calls: list[dict[str, Any]] = []
    compute_loss = trainer._compute_loss
    per_token = trainer._get_per_token_logps_and_entropies

    def recording_loss(model: Any, inputs: dict[str, Any]) -> Any:
        calls.append({"inputs": inputs, "step": trainer.state.global_step})
        return compute_loss(model, inputs)

    def recording_logps(*a: Any, **kw: Any) -> Any:
        out = per_token(*a, **kw)
        if kw.get("compute_entropy") and calls and "logps" not in calls[-1]:
            calls[-1]["logps"] = out[0].detach().clone()
        return out

    trainer._compute_loss = recording_loss  # type: ignore[method-assign]
    trainer._get_per_token_logps_and_entropies = recording_logps  # type: ignore[method-assign]
    trainer.train()
    changed = any(not torch.equal(before[n], p.detach()) for n, p in model.named_parameters())
    return SimpleNamespace(trainer=trainer, calls=calls, processor=processor, changed=changed)


def _unpad(ids: torch.Tensor, mask: torch.Tensor) -> tuple[int, ...]:
    return tuple(ids[mask.bool()].tolist())


def test_every_policy_token_logprob_matches_the_rollout(captured: SimpleNamespace) -> None:
    generation = captured.trainer.last_generation
    first_step = [c for c in captured.calls if c["step"] == 0]
    assert len(first_step) == 2, "the generation batch is split into two micro-batches of one optimizer step"
    compared = 0
    for call in first_step:
        inputs, logps = call["inputs"], call["logps"]
        mask = inputs["completion_mask"].bool()
        rollout = inputs["sampling_per_token_logps"]
        assert logps.dtype == torch.float32
        diff = (logps - rollout).abs()[mask]
        assert diff.max().item() < 2e-5, f"max |loss logp - rollout logp| = {diff.max().item():.2e}"
        compared += int(mask.sum())
    assert compared == sum(len(r.completion_ids) for r in generation.rows)
    assert {(r.turn > 0, r.temperature) for r in generation.rows} == {(False, 1.0), (True, 0.9)}
    from agents.train.grpo import LOSS_BATCH_KEYS

    assert set(generation.batch) == LOSS_BATCH_KEYS | {"ref_per_token_logps"}  # beta = 0.01
    assert captured.changed, "one optimizer step must change the parameters"


def test_one_loss_temperature_would_not_match_the_later_turns(captured: SimpleNamespace) -> None:
    """Scored at TRL's one temperature (1.0), the later turns' log-probs move: the invariant test has teeth."""
    trainer = captured.trainer
    inputs = captured.calls[0]["inputs"]
    ids = torch.cat([inputs["prompt_ids"], inputs["completion_ids"]], dim=1)
    mask = torch.cat([inputs["prompt_mask"], inputs["completion_mask"]], dim=1)

    def score() -> torch.Tensor:
        with torch.no_grad():
            return trainer._get_per_token_logps_and_entropies(
                trainer.model, ids, mask, inputs["completion_ids"].size(1), **trainer._forward_kwargs(inputs)
            )[0]

    one_temperature = score()  # no row temperatures set: TRL's fused head alone
    with trainer._scored_at(inputs):
        per_row = score()
    diff = (per_row - one_temperature).abs() * inputs["completion_mask"]
    later = inputs["row_temperatures"] != 1.0
    assert later.any() and (~later).any()
    assert diff[~later].max().item() == 0.0  # first turns: 1.0 either way
    assert diff[later].max().item() > 1e-3


def test_rows_are_the_turn_records_and_only_policy_tokens_carry_loss(captured: SimpleNamespace) -> None:
    generation = captured.trainer.last_generation
    episodes = generation.episodes
    assert [len(e.turns) for e in episodes] == [3, 4] and [e.tool_calls for e in episodes] == [2, 3]
    records = {(t.episode, t.turn): t for e in episodes for t in e.turns}
    rows = [r for r in generation.rows if r.weight > 0]
    assert len(rows) == 7 and len(generation.rows) == 8  # 7 turns, padded to a multiple of steps_per_generation=2
    assert sum(r.weight == 0 for r in generation.rows) == 1
    seen = set()
    for call in captured.calls:
        inputs = call["inputs"]
        for i in range(inputs["prompt_ids"].shape[0]):
            prompt = _unpad(inputs["prompt_ids"][i], inputs["prompt_mask"][i])
            completion = _unpad(inputs["completion_ids"][i], inputs["completion_mask"][i])
            match = [
                k for k, t in records.items() if tuple(t.prompt_ids) == prompt and tuple(t.completion_ids) == completion
            ]
            assert match, "every row's prompt and completion are exactly one turn record's ids"
            record = records[match[0]]
            loss_mask = inputs["completion_mask"][i] * inputs["tool_mask"][i]
            if loss_mask.sum() > 0:
                seen.add(match[0])
                assert loss_mask.sum().item() == len(record.completion_ids)
    assert seen == set(records)
    # What follows a turn (its tool result, text and images) is prompt of the next row, never completion:
    # the next prompt holds this turn's ids verbatim, then the tool result, then the generation prompt.
    from agents.records import contains_run

    for episode in episodes:
        first, second = episode.turns[0], episode.turns[1]
        assert second.prompt_ids[: len(first.prompt_ids)] == first.prompt_ids  # no eviction before call 2
        assert second.prompt_ids[len(first.prompt_ids) : len(first.prompt_ids) + len(first.completion_ids)] == (
            first.completion_ids
        )
        for turn, following in zip(episode.turns, episode.turns[1:], strict=False):
            assert contains_run(following.prompt_ids, turn.completion_ids)


def test_evicted_frames_are_absent_from_the_row_images(captured: SimpleNamespace) -> None:
    generation = captured.trainer.last_generation
    processor = captured.processor
    three_calls = generation.episodes[1]
    rows = {r.turn: r for r in generation.rows if r.episode == three_calls.episode and r.weight > 0}
    for turn in three_calls.turns:  # a row's frames are its record's visible frames, in placeholder order
        assert list(rows[turn.turn].frame_ids) == turn.context.visible_frame_ids()
    first = set(rows[0].frame_ids)
    assert len(first) == 8
    assert set(rows[1].frame_ids) == first | {3, 17}
    assert set(rows[2].frame_ids) == first | {4, 18, 25}  # call 1's frames evicted (p = 1)
    assert set(rows[3].frame_ids) == first | {6}  # calls 1 and 2 evicted
    image_token = captured.trainer.image_token_id
    merge = processor.image_processor.merge_size
    for call in captured.calls:
        inputs = call["inputs"]
        offset = 0
        grids = inputs["image_grid_thw"]
        pixel_rows = grids.prod(-1)
        starts = np.concatenate([[0], np.cumsum(pixel_rows.numpy())])
        for i, count in enumerate(inputs["num_images"]):
            prompt = _unpad(inputs["prompt_ids"][i], inputs["prompt_mask"][i])
            completion = _unpad(inputs["completion_ids"][i], inputs["completion_mask"][i])
            row = next(r for r in generation.rows if r.prompt_ids == prompt and r.completion_ids == completion)
            assert count == len(row.frame_ids) == len(row.images)
            features = int(pixel_rows[offset : offset + count].sum()) // merge**2
            assert prompt.count(image_token) == features
            expected = processor.image_processor(images=[np.array(im) for im in row.images], return_tensors="pt")
            got = inputs["pixel_values"][starts[offset] : starts[offset + count]]
            assert torch.equal(got, expected["pixel_values"].to(got.dtype))
            offset += count
