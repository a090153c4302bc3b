"""The miniature base's pretraining: a vision tower that sees, then alignment through the language model.

The usual VLM recipe, small (docs/mini-vrthinker.md; the measurements behind it are in
``benchmarks/perception_probe.py``):

1. **Tower** (:func:`train_tower`): patch embedding and tower blocks with a linear head on the
   mean-pooled tower output (before the patch merger), on single synthetic frames labelled clean or
   by defect kind. A random-init tower trained only through the language model does not learn this:
   the merger's per-patch RMS normalization removes the amplitude that tells a noisy patch from a
   clean one, and the gradient reaching the tower fades once the answer prior is learned.
2. **Alignment** (:func:`align`): tower frozen; merger and language model trained on the answer
   tokens of single-frame questions and of pair views (the frames a judge sees, under the protocol's
   frame labels, described in the scanner's words).

Both stages draw their frames from the synthetic renderer with seeds of their own (never a benchmark
pair) and are deterministic given the seed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from agents.pretrain.batches import chat_batch, to_pil
from agents.pretrain.frames import PairView, frame_answer, frame_bank, frame_chat, pair_view
from vr_env.config import EnvConfig
from vr_env.data.synthetic import SyntheticConfig


@dataclass
class StageLog:
    """Losses and evaluations of one stage (evaluations as ``(step, accuracy)``)."""

    losses: list[float] = field(default_factory=list)
    evals: list[tuple[int, float]] = field(default_factory=list)
    seconds: float = 0.0


def vision_tower(model: Any) -> Any:
    """The Qwen-VL vision tower (``model.model.visual``)."""
    return model.model.visual


def pixel_inputs(processor: Any, frames: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """``pixel_values`` and ``image_grid_thw`` of ``frames`` through the model's own image processor."""
    out = processor.image_processor(images=[to_pil(f) for f in frames], return_tensors="pt")
    return out["pixel_values"], out["image_grid_thw"]


def pooled_tower_output(model: Any, pixel_values: torch.Tensor, grid: torch.Tensor, *, merged: bool = False) -> Any:
    """Mean over each image's patches of the tower output (``merged``: of the merger's output)."""
    out = vision_tower(model)(pixel_values.to(model.dtype), grid_thw=grid)
    features = out.pooler_output if merged else out.last_hidden_state
    counts = (grid.prod(dim=1) // (vision_tower(model).spatial_merge_unit if merged else 1)).tolist()
    return torch.stack([chunk.mean(dim=0) for chunk in torch.split(features, counts)])


def train_tower(
    model: Any,
    processor: Any,
    frames: np.ndarray,
    labels: np.ndarray,
    *,
    steps: int,
    lr: float,
    batch_size: int,
    seed: int,
    evaluate: Callable[[torch.nn.Module], float] | None = None,
    eval_every: int = 50,
) -> tuple[torch.nn.Module, StageLog]:
    """Stage 1: patch embedding + tower blocks + a linear head on the pooled tower output (merger untouched)."""
    tower = vision_tower(model)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        head = torch.nn.Linear(tower.config.hidden_size, int(labels.max()) + 1)  # PyTorch's default init
    trained = [p for n, p in tower.named_parameters() if not n.startswith("merger.")] + list(head.parameters())
    optimizer = torch.optim.AdamW(trained, lr=lr, weight_decay=0.0)
    rng = np.random.default_rng([seed, 0x70])
    log = StageLog()
    start = time.perf_counter()
    tower.train()
    for step in range(1, steps + 1):
        idx = rng.choice(len(frames), size=batch_size, replace=False)
        pixels, grid = pixel_inputs(processor, frames[idx])
        logits = head(pooled_tower_output(model, pixels, grid))
        loss = torch.nn.functional.cross_entropy(logits, torch.as_tensor(labels[idx]))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        log.losses.append(loss.item())
        if evaluate is not None and (step % eval_every == 0 or step == steps):
            log.evals.append((step, evaluate(head)))
    tower.eval()
    log.seconds = time.perf_counter() - start
    return head, log


@torch.no_grad()
def head_accuracy(model: Any, processor: Any, head: Any, frames: np.ndarray, labels: np.ndarray) -> float:
    """Accuracy of a tower head on held-out frames."""
    right = 0
    for k in range(0, len(frames), 64):
        pixels, grid = pixel_inputs(processor, frames[k : k + 64])
        right += int((head(pooled_tower_output(model, pixels, grid)).argmax(-1).numpy() == labels[k : k + 64]).sum())
    return right / max(len(frames), 1)


def freeze_tower_blocks(model: Any) -> None:
    """Freeze the patch embedding and tower blocks; the merger and the language model stay trainable."""
    for name, parameter in vision_tower(model).named_parameters():
        parameter.requires_grad_(name.startswith("merger."))


def align(
    model: Any,
    processor: Any,
    frames: np.ndarray,
    labels: np.ndarray,
    kinds: Sequence[str],
    views: Sequence[PairView],
    env: EnvConfig,
    *,
    steps: int,
    lr: float,
    frame_batch: int,
    view_batch: int,
    seed: int,
    evaluate: Callable[[], float] | None = None,
    eval_every: int = 50,
) -> StageLog:
    """Stage 2: the answer tokens of single-frame questions and pair views (alternating batches)."""
    freeze_tower_blocks(model)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)
    rng = np.random.default_rng([seed, 0xA7])
    log = StageLog()
    start = time.perf_counter()
    for step in range(1, steps + 1):
        model.train()
        if views and step % 2 == 0:
            chats = [views[int(i)].chat(env) for i in rng.choice(len(views), size=view_batch, replace=False)]
        else:
            idx = rng.choice(len(frames), size=frame_batch, replace=False)
            chats = [frame_chat(to_pil(frames[i]), int(labels[i]), kinds) for i in idx]
        loss = model(**chat_batch(processor, chats, train=True)).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        log.losses.append(loss.item())
        if evaluate is not None and (step % eval_every == 0 or step == steps):
            model.eval()
            log.evals.append((step, evaluate()))
    model.eval()
    log.seconds = time.perf_counter() - start
    return log


@torch.no_grad()
def greedy_answers(model: Any, processor: Any, chats: Sequence[Any], max_new_tokens: int) -> list[str]:
    """Greedy continuations of ``chats`` (ending with a user turn), decoded without special tokens."""
    batch = chat_batch(processor, chats, train=False)
    out = model.generate(**batch, do_sample=False, max_new_tokens=max_new_tokens)
    new = out[:, batch["input_ids"].shape[1] :]
    return [t.strip() for t in processor.batch_decode(new, skip_special_tokens=True)]


def frame_accuracy(model: Any, processor: Any, frames: np.ndarray, labels: np.ndarray, kinds: Sequence[str]) -> float:
    """Share of held-out single-frame questions answered exactly (greedy)."""
    right = 0
    for k in range(0, len(frames), 32):
        chats = [frame_chat(to_pil(f), None, kinds) for f in frames[k : k + 32]]
        said = greedy_answers(model, processor, chats, max_new_tokens=16)
        right += sum(s == frame_answer(int(y), kinds) for s, y in zip(said, labels[k : k + 32], strict=True))
    return right / max(len(frames), 1)


def view_accuracy(model: Any, processor: Any, views: Sequence[PairView], env: EnvConfig) -> float:
    """Share of held-out pair views whose notes are written exactly (greedy)."""
    right = 0
    for k in range(0, len(views), 8):
        chunk = views[k : k + 8]
        chats = [v.chat(env)[:1] for v in chunk]
        said = greedy_answers(model, processor, chats, max_new_tokens=40)
        right += sum(s == v.answer for s, v in zip(said, chunk, strict=True))
    return right / max(len(views), 1)


def make_views(n: int, synthetic: SyntheticConfig, env: EnvConfig) -> list[PairView]:
    """``n`` pair views, half with the initial frames only and half with the fetched ones too."""
    return [pair_view(i, synthetic, env, fetched=bool(i % 2)) for i in range(n)]


__all__ = [
    "StageLog",
    "align",
    "frame_accuracy",
    "frame_bank",
    "freeze_tower_blocks",
    "greedy_answers",
    "head_accuracy",
    "make_views",
    "pixel_inputs",
    "pooled_tower_output",
    "train_tower",
    "view_accuracy",
    "vision_tower",
]
