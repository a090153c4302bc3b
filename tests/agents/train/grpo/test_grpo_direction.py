"""Update direction of one WindowedGRPOTrainer optimizer step on scripted windowed multi-turn rows.

Setting: the tiny random-weight Qwen2.5-VL, one pair, G = 2, p = 1. Trajectory A makes two tool calls
(three rows: 8, 10 and 10 images, the first call's frames evicted from the third row's context);
trajectory B answers at once (one row). Every turn is forced (real forward passes, real log-probs).
The run is the real path: ``trainer.train()`` with ``max_steps=1`` (rollout, row building, TRL's
split/shuffle, TRL's DAPO loss, AdamW). Only the loss batch's ``advantages`` are set by the test,
right after the trainer's own ``_generate_and_score_completions`` built the batch: ``advantage`` on
every row of trajectory A, 0 on B's row.

Measured quantity: for each row, the summed log-probability of its policy tokens (its completion
tokens: every row is a real turn of weight 1, so the loss mask ``completion_mask * tool_mask`` keeps
all of them unless a test zeroes ``tool_mask``), from a fresh forward pass through TRL's
``_get_per_token_logps_and_entropies`` (the function the loss uses) on the same rows, with the
updated weights and then with the initial weights restored.

Why a flipped sign or dropped masks fail these tests: at the first step the importance ratio is 1
(old log-probs = sampling log-probs, within 2e-5), so the DAPO surrogate's gradient is
``-A * grad(sum of policy log-probs) / N``; AdamW's first step moves every parameter by
``lr * sign(-grad)`` (bias-corrected m / sqrt(v) is +-1 wherever |grad| >> eps = 1e-8), so to first
order a row's log-prob changes by ``sign(A) * lr * sum_i |d logp / d theta_i|``: the sign of the
advantage. If the loss used ``+A`` instead of ``-A`` the measured change would have the opposite
sign (demonstrated below by negating the advantages inside ``_compute_loss``). A loss that dropped
the row weights (``tool_mask``) would move the model on rows weighted 0 (demonstrated below too).

Tolerances: with lr = 1e-4 each turn's summed log-prob moves by about 1.3 to 2.1 nats (measured on
CPU); the tests require more than ``MARGIN = 0.05`` nats per turn in the advantage's direction.
Float noise of a fresh forward pass is about 1e-6 per token (about 1e-4 summed over a turn).
Zero advantage (beta = 0, weight decay 0) and zero row weights must leave every parameter exactly
equal (``torch.equal``: tolerance 0).
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
import torch

PAIR = 3
LR = 1e-4
#: Minimum change, in nats, of each turn's summed policy-token log-probability (observed: 1.3 to 2.1).
MARGIN = 0.05


def _script(turns: SimpleNamespace) -> Callable[[int, int, dict[str, Any]], str]:
    plans = {
        0: [turns.tool([2, 20]), turns.tool([5, 30]), turns.final()],  # trajectory A: two tool calls
        1: [turns.final("TA=0, VQ=0, MQ=0, OA=0")],  # trajectory B: answers at once
    }
    return lambda episode, turn, info: plans[episode % 2][turn]


def _row_logps(trainer: Any, batch: dict[str, Any]) -> torch.Tensor:
    """Summed log-probability of each row's completion tokens, fresh forward pass, no grad.

    Every row here is a real turn of weight 1 (no padding copies), so these are exactly the tokens the
    loss mask ``completion_mask * tool_mask`` selects, also where a test zeroes ``tool_mask`` itself.
    """
    ids = torch.cat([batch["prompt_ids"], batch["completion_ids"]], dim=1)
    attention = torch.cat([batch["prompt_mask"], batch["completion_mask"]], dim=1)
    extra = {k: batch[k] for k in ("pixel_values", "image_grid_thw", "num_images", "mm_token_type_ids") if k in batch}
    model = trainer.model
    model.eval()
    with torch.no_grad():
        logps, _, _ = trainer._get_per_token_logps_and_entropies(
            model, ids, attention, batch["completion_ids"].size(1), batch_size=ids.size(0), **extra
        )
    return (logps * batch["completion_mask"]).sum(dim=1)


def _one_step(
    make_trainer: Callable[..., Any],
    turns: SimpleNamespace,
    advantage: float,
    *,
    zero_weights: bool = False,
    negate_in_loss: bool = False,
    loss_ignores_weights: bool = False,
    **overrides: Any,
) -> SimpleNamespace:
    """One optimizer step with ``advantage`` on trajectory A's rows; per-row log-prob changes and parameter moves.

    ``zero_weights``: trajectory A's rows also get loss weight 0 (``tool_mask``). ``negate_in_loss`` and
    ``loss_ignores_weights`` simulate broken losses (advantages negated / ``tool_mask`` not read).
    """
    trainer = make_trainer(script=_script(turns), pairs=[PAIR], learning_rate=LR, **overrides)
    model = trainer.model
    initial = {k: v.detach().clone() for k, v in model.state_dict().items()}
    generate, compute_loss = trainer._generate_and_score_completions, trainer._compute_loss
    seen: list[torch.Tensor] = []

    def with_advantages(inputs: list[dict[str, Any]]) -> dict[str, Any]:
        batch = generate(inputs)
        generation = trainer.last_generation
        target = {e.episode for e in generation.episodes if e.tool_calls == 2}
        chosen = [r.weight > 0 and r.episode in target for r in generation.rows]
        batch["advantages"] = torch.tensor([advantage if c else 0.0 for c in chosen], dtype=torch.float32)
        if zero_weights:
            batch["tool_mask"] = batch["tool_mask"] * torch.tensor([0.0 if c else 1.0 for c in chosen])[:, None]
        return batch

    def loss(model: Any, inputs: dict[str, Any]) -> Any:
        seen.append(inputs["advantages"].detach().clone())
        if negate_in_loss:
            inputs = {**inputs, "advantages": -inputs["advantages"]}
        if loss_ignores_weights:
            inputs = {k: v for k, v in inputs.items() if k != "tool_mask"}
        return compute_loss(model, inputs)

    trainer._generate_and_score_completions = with_advantages  # type: ignore[method-assign]
    trainer._compute_loss = loss  # type: ignore[method-assign]
    trainer.train()
    generation = trainer.last_generation
    batch = generation.batch
    after = _row_logps(trainer, batch)
    moved = max((v - initial[k]).abs().max().item() for k, v in model.state_dict().items() if v.is_floating_point())
    model.load_state_dict(initial)
    before = _row_logps(trainer, batch)
    return SimpleNamespace(generation=generation, rows=generation.rows, delta=after - before, moved=moved, seen=seen)


def _check_layout(run: SimpleNamespace) -> None:
    """Trajectory A has three windowed rows with images (tool frames added, call 1's evicted); B one."""
    episodes = run.generation.episodes
    assert [e.tool_calls for e in episodes] == [2, 0] and [len(e.turns) for e in episodes] == [3, 1]
    a = {r.turn: r for r in run.rows if r.episode == episodes[0].episode}
    assert [len(a[t].images) for t in (0, 1, 2)] == [8, 10, 10]
    assert {2, 20} <= set(a[1].frame_ids) and {5, 30} <= set(a[2].frame_ids)
    assert not {2, 20} & set(a[2].frame_ids)  # p = 1: the first call's frames are gone from turn 3's context
    assert len(run.rows) == 4 and all(r.weight == 1.0 for r in run.rows)
    assert len(run.seen) == 1, "one micro-batch, one loss call"


def _deltas(run: SimpleNamespace, episode_position: int) -> list[float]:
    episode = run.generation.episodes[episode_position].episode
    return [float(run.delta[i]) for i, r in enumerate(run.rows) if r.episode == episode]


@pytest.mark.parametrize("advantage", [1.0, -1.0], ids=["positive", "negative"])
def test_the_advantage_sign_sets_the_direction_of_every_turn(
    make_trainer: Callable[..., Any], turns: SimpleNamespace, advantage: float
) -> None:
    """A > 0 raises, A < 0 lowers, each of trajectory A's three turns' summed log-prob by > MARGIN nats.

    Trainer defaults otherwise (beta = 0.01: its gradient is zero at the first step, where the
    reference equals the policy). Fails if the loss's advantage sign were flipped or advantages ignored.
    """
    run = _one_step(make_trainer, turns, advantage)
    _check_layout(run)
    assert sorted(run.seen[0].tolist()) == sorted([advantage] * 3 + [0.0])  # the loss saw the set advantages
    deltas = _deltas(run, 0)
    assert len(deltas) == 3
    for turn, delta in enumerate(deltas):
        assert advantage * delta > MARGIN, f"turn {turn}: summed log-prob changed by {delta:+.4f} nats"
    assert advantage * sum(deltas) > 3 * MARGIN


def test_a_sign_flip_in_the_loss_is_detected(make_trainer: Callable[..., Any], turns: SimpleNamespace) -> None:
    """Negating the advantages inside the loss (a sign bug) makes A = +1 LOWER every turn's log-prob,
    so the positive case of the test above would fail on such a loss."""
    run = _one_step(make_trainer, turns, 1.0, negate_in_loss=True)
    for turn, delta in enumerate(_deltas(run, 0)):
        assert delta < -MARGIN, f"turn {turn}: {delta:+.4f}"


def test_zero_advantage_leaves_the_parameters_exactly_unchanged(
    make_trainer: Callable[..., Any], turns: SimpleNamespace
) -> None:
    """All advantages 0, beta = 0: the DAPO loss is ``-min(r * 0, clip(r) * 0)`` with an exactly zero
    gradient, and AdamW's update ``m_hat / (sqrt(v_hat) + eps)`` is then exactly 0. ``weight_decay=0``
    is set explicitly (it is also the default of WindowedGRPOConfig, inherited from TrainingArguments)
    because AdamW's decoupled decay ``p -= lr * wd * p`` would move parameters without any gradient;
    beta = 0 because the KL term's gradient, zero in exact arithmetic at the first step, is float
    noise of ~1e-9 that Adam's normalization would blow up to steps of ~lr / 10.
    Tolerance: every parameter bitwise equal; every row's summed log-prob change exactly 0.
    """
    run = _one_step(make_trainer, turns, 0.0, beta=0.0, weight_decay=0.0)
    _check_layout(run)
    assert run.moved == 0.0
    assert run.delta.abs().max().item() == 0.0


def test_rows_with_zero_loss_weight_do_not_move_the_model(
    make_trainer: Callable[..., Any], turns: SimpleNamespace
) -> None:
    """A = +1 on trajectory A but its rows weighted 0 (``tool_mask``; B has A = 0): the parameters stay
    bitwise equal. The same step with a loss that ignores ``tool_mask`` moves them and raises A's
    log-probs by > MARGIN: this check detects a loss that drops the row weights."""
    run = _one_step(make_trainer, turns, 1.0, zero_weights=True, beta=0.0, weight_decay=0.0)
    assert run.moved == 0.0 and run.delta.abs().max().item() == 0.0
    broken = _one_step(
        make_trainer, turns, 1.0, zero_weights=True, loss_ignores_weights=True, beta=0.0, weight_decay=0.0
    )
    assert broken.moved > 0.0
    assert all(delta > MARGIN for delta in _deltas(broken, 0))


def test_freeze_vision_moves_the_language_model_only(make_trainer: Callable[..., Any], turns: SimpleNamespace) -> None:
    """``freeze_vision=True``: one step with A = +1 leaves every vision-tower parameter (patch
    embedding, blocks, merger) bitwise equal and still raises A's log-probs through the language
    model; without it the tower moves too (so the check can fail)."""
    from agents.train.sft import vision_parameters

    for freeze in (True, False):
        trainer = make_trainer(script=_script(turns), pairs=[PAIR], learning_rate=LR, freeze_vision=freeze, beta=0.0)
        before = [p.detach().clone() for p in vision_parameters(trainer.model)]
        trainer.train()
        moved = max((p - b).abs().max().item() for p, b in zip(vision_parameters(trainer.model), before, strict=True))
        assert (moved == 0.0) if freeze else (moved > 0.0)
        language = [p for n, p in trainer.model.named_parameters() if "language_model" in n]
        assert all(p.requires_grad for p in language)
