"""Update direction of windowed per-turn SFT, and that masked tokens carry exactly no gradient.

Traces: two scanner-teacher episodes on the tiny random-weight Qwen2.5-VL, two tool calls each
(six training turns with 8 or 16 images in context), as in ``test_sft_training``.

1. ``train_sft`` (the public entry) for one epoch (2 optimizer steps of 3 turns, lr 1e-3, AdamW):
   the loss of every trained turn -- the mean negative log-likelihood of the turn's own tokens, the
   quantity the trainer minimizes, computed by a fresh forward pass of the initial and of the saved
   model on ``turn_batch([turn])`` -- falls by more than ``MARGIN = 0.05`` nats per token (observed
   about 0.25 to 0.27). A sign error (gradient ascent) makes it rise: demonstrated by negating the
   trainer's ``compute_loss``.
2. The trainer's own collator (``WindowedSFTTrainer.data_collator``, which builds the labels) and its
   own ``compute_loss`` (TRL's fused LM head) on one batch of one episode's three turns: the gradient of the loss
   with respect to the final hidden state at position k -- the LM head's input there, which feeds
   only the prediction of token k + 1 -- is exactly zero (tolerance 0) wherever token k + 1 is not
   one of the turn's own completion tokens (left padding, system prompt, user text, images, tool
   results, earlier assistant turns, the generation prompt), and non-zero at every position that
   predicts a completion token. The expected positions come from the turn records (completion
   length, left padding), not from the labels. Labels without the mask (every real token learned)
   give non-zero gradients at prompt positions: demonstrated in the test, so dropped masks fail it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from agents.records import TurnRecord, contains_run
from agents.train import sft
from agents.train.config import SFTRunConfig
from agents.train.sft import load_and_replay, load_model, train_sft, turn_batch, turn_examples
from agents.train.traces import build_traces

ENV = {"frames_per_video": 16, "max_tool_calls": 2, "dataset_kwargs": {"n": 12}}
#: Minimum fall (or rise, for the sign-flip demonstration) of each turn's mean per-token loss, nats.
MARGIN = 0.05


@pytest.fixture(scope="module")
def traces(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("coldstart-direction")
    report = build_traces("scanner", ENV, out_dir=out, limit=2, progress=False)
    assert report.kept == 2
    return out / "traces.jsonl"


def _turns(traces: Path, processor: Any) -> list[TurnRecord]:
    episodes, problems = load_and_replay(traces)
    examples = turn_examples(episodes, processor)
    assert not problems and not examples.problems and len(examples.turns) == 6
    return examples.turns


def _turn_losses(model: Any, turns: list[TurnRecord], processor: Any) -> list[float]:
    """Each turn's loss (mean NLL over its labelled tokens) from a fresh forward pass on its own batch."""
    model.eval()
    with torch.no_grad():
        return [float(model(**turn_batch([turn], processor)).loss) for turn in turns]


@pytest.mark.parametrize("flip", [False, True], ids=["sft", "sign-flipped-loss"])
def test_training_lowers_the_loss_of_every_trained_turn(
    tiny_model_dir: Path, traces: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flip: bool
) -> None:
    """One epoch of ``train_sft`` lowers each of the six turns' loss by > MARGIN nats per token.

    ``flip``: the trainer's loss negated (a sign bug: gradient ascent); every turn's loss then RISES by
    > MARGIN, so the unflipped assertion detects such a bug.
    """
    torch.set_num_threads(1)
    if flip:
        original = sft.WindowedSFTTrainer.compute_loss

        def ascending(self: Any, model: Any, inputs: Any, return_outputs: bool = False, **kwargs: Any) -> Any:
            out = original(self, model, inputs, return_outputs=return_outputs, **kwargs)
            return (-out[0], out[1]) if return_outputs else -out

        monkeypatch.setattr(sft.WindowedSFTTrainer, "compute_loss", ascending)
    config = SFTRunConfig(
        learning_rate=1e-3, warmup_ratio=0.0, lr_scheduler_type="constant", per_device_train_batch_size=3,
        gradient_accumulation_steps=1, max_steps=2, save_steps=1000, torch_threads=1, use_cpu=True,
    )  # fmt: skip
    initial, processor = load_model(tiny_model_dir, config)
    turns = _turns(traces, processor)
    before = _turn_losses(initial, turns, processor)
    result = train_sft(tiny_model_dir, traces, tmp_path / "out", config, verbose=False)
    assert result.examples == 6 and len(result.losses()) == 2  # 2 steps x 3 turns: every turn trained once
    trained, _ = load_model(tmp_path / "out", config)
    after = _turn_losses(trained, turns, processor)
    sign = 1.0 if flip else -1.0
    for k, (b, a) in enumerate(zip(before, after, strict=True)):
        assert sign * (a - b) > MARGIN, f"turn {k}: loss {b:.4f} -> {a:.4f}"


def _hidden_grad(trainer: Any, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """``(loss, |d loss / d h_k|)`` per row and position, ``h`` the backbone's last hidden state (the LM head input)."""
    model = trainer.model
    model.zero_grad(set_to_none=True)
    captured: dict[str, torch.Tensor] = {}

    def keep(module: Any, args: Any, output: Any) -> None:
        output.last_hidden_state.retain_grad()
        captured["hidden"] = output.last_hidden_state

    handle = model.base_model.register_forward_hook(keep)  # what TRL's fused LM head reads
    try:
        loss = trainer.compute_loss(model, dict(batch))
        loss.backward()
    finally:
        handle.remove()
    grad = captured["hidden"].grad
    assert grad is not None
    return loss.detach(), grad.norm(dim=-1)


def test_masked_tokens_get_exactly_zero_gradient(tiny_model_dir: Path, traces: Path, tmp_path: Path) -> None:
    """Zero gradient at every position not predicting a completion token, non-zero at every one that does."""
    torch.set_num_threads(1)
    config = SFTRunConfig(torch_threads=1, use_cpu=True)
    model, processor = load_model(tiny_model_dir, config)
    turns = _turns(traces, processor)[:3]  # one episode: the first turn, after one tool call, after two
    trainer = sft.WindowedSFTTrainer(
        model=sft.prepare_model(model, config),
        args=sft.trl_config(config, tmp_path / "out"),
        turns=turns,
        processing_class=processor,
    )
    model = trainer.model
    model.train()
    batch = trainer.data_collator([{"turn_index": i} for i in range(len(turns))])
    ids, attention = batch["input_ids"], batch["attention_mask"]
    rows, width = ids.shape
    image_id = processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")

    learned = torch.zeros(rows, width, dtype=torch.bool)  # positions k whose next token is the turn's own
    for row, turn in enumerate(turns):
        n = len(turn.completion_ids or [])
        learned[row, width - n - 1 : width - 1] = True
        # What the masked positions predict: images, earlier assistant turns (tool calls), tool results.
        prompt = ids[row, width - n - len(turn.prompt_ids or []) : width - n]
        assert (prompt == image_id).sum() > 0
        if turn.turn > 0:
            previous = turns[row - 1]
            assert contains_run(prompt.tolist(), previous.completion_ids or [])
    assert (attention == 0).any(), "rows of different lengths: left padding is in the batch"

    loss, grad = _hidden_grad(trainer, batch)
    assert torch.isfinite(loss)
    assert (grad[~learned] == 0).all(), f"{int((grad[~learned] != 0).sum())} masked positions have a gradient"
    assert (grad[learned] > 0).all(), f"{int((grad[learned] == 0).sum())} learned positions have no gradient"

    # The per-turn loss test above measures with a plain forward pass: it equals the trainer's loss.
    single = trainer.data_collator([{"turn_index": 0}])
    with torch.no_grad():
        trainer_loss = float(trainer.compute_loss(model, dict(single)))
        plain = float(model(**turn_batch([turns[0]], processor)).loss)
    assert trainer_loss == pytest.approx(plain, rel=1e-5)

    # Demonstration: labels without the prompt mask (every real token learned) put a gradient on the prompt.
    unmasked = {**batch, "labels": torch.where(attention.bool(), ids, torch.full_like(ids, sft.IGNORE_INDEX))}
    _, broken = _hidden_grad(trainer, unmasked)
    predicts_real = torch.zeros_like(learned)
    predicts_real[:, :-1] = attention[:, 1:].bool()  # position k predicts token k + 1
    prompt_positions = predicts_real & ~learned
    assert prompt_positions.sum() > 5 * learned.sum()
    assert (broken[prompt_positions] > 0).all(), "without the mask the prompt positions would carry gradient"
