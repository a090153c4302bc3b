"""Held-out evaluation of the windowed GRPO policy during training (``eval_every`` / ``eval_pairs``).

The last ``eval_pairs`` pairs of the environment's dataset are held out (:func:`held_out_pairs`):
the trainer's default train dataset leaves them out, a user dataset holding one is refused, and
dynamic sampling never refills from them. :class:`HeldOutEvalCallback` evaluates before the first
optimizer step (step 0), every ``eval_every`` steps and after the last step (each step at most
once; a resumed run does not repeat a step its restored log already evaluated).

An evaluation plays one GREEDY episode per held-out pair (``GenerationSettings.greedy``,
``eval_max_new_tokens`` per turn, default ``max_completion_length``) with a :class:`RolloutEngine`
and a :class:`TransformersBackend` over the trainer's own model (unwrapped and, under ZeRO-3,
gathered as for the rollouts; always the local model, also with a vLLM server), no swap, in eval
mode and without gradients; each module's train/eval mode is restored afterwards. The episode seeds
are fixed per run (run seed, a constant): every evaluation replays the same episodes, and torch's
random state is forked, so training results are the same with evaluation on or off.

Several ranks: every rank plays its share of the pairs (``pairs[rank::world]``), the per-episode
numbers are gathered to every rank (``gather_object``) and every rank logs the same figures, so
all ranks call the same collectives (the ZeRO-3 gather, the object gather) at the same steps.

Logged into the trainer's log history at the step (so ``metrics.jsonl`` of ``run_grpo`` has them):
``eval/tau`` (OA accuracy, tie a valid label), ``eval/diff`` (OA accuracy over non-tie labels),
``eval/TA``, ``eval/VQ``, ``eval/MQ`` (``vr_env.eval.metrics.accuracy_block``; a missing answer
counts as wrong), ``eval/format_valid_turn_rate`` (as ``agents.train.metrics.protocol_stats``),
``eval/tool_calls_per_episode``, ``eval/return`` (mean episode return), ``eval/finished_rate``,
``eval/episodes``, ``eval/unreadable`` (held-out pairs that could not be read), ``eval/seconds``.
With ``best_metric``, the best evaluation's policy is kept in ``output_dir/best`` (``best_policy``).
A figure with nothing to average (e.g. ``eval/diff`` when every held-out OA label is a tie, or no
episode could be played) is ``None`` (``null`` in the JSON lines), never NaN.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from transformers import Trainer, TrainerCallback

from agents.backends.base import GenerationSettings
from agents.records import EpisodeRecord
from agents.rollout import RolloutEngine
from agents.train.grpo.best_policy import BestPolicy
from agents.train.metrics import turn_format_valid
from vr_env.eval.metrics import accuracy_block

if TYPE_CHECKING:
    from agents.train.grpo.trainer import WindowedGRPOTrainer

#: The key every evaluation row has (used to find evaluated steps in a restored log history).
EVAL_KEY = "eval/tau"
#: Second element of the evaluation's seed sequence (the first is the run seed).
EVAL_SEED_TAG = 0xE7A1


def held_out_pairs(num_pairs: int, eval_pairs: int) -> list[int]:
    """The last ``eval_pairs`` pair indices of a dataset of ``num_pairs``."""
    if eval_pairs >= num_pairs and eval_pairs > 0:
        raise ValueError(
            f"eval_pairs={eval_pairs} would hold out every pair of the environment's {num_pairs}: none left to train on"
        )
    return list(range(num_pairs - eval_pairs, num_pairs)) if eval_pairs > 0 else []


def training_pairs(pair_index: Sequence[Any], num_pairs: int, held_out: Sequence[int]) -> list[int]:
    """Sorted distinct pairs of a train dataset's ``pair_index``; refuses held-out or out-of-range ones."""
    pairs = sorted({int(i) for i in pair_index})
    if not pairs:
        raise ValueError("the GRPO train dataset has no pairs")
    outside = [i for i in pairs if not 0 <= i < num_pairs]
    if outside:
        raise ValueError(f"train dataset pair_index {outside[:5]} outside the environment's {num_pairs} pairs")
    clash = sorted(set(pairs) & set(held_out))
    if clash:
        raise ValueError(
            f"train dataset holds pair {clash[0]}"
            + (f" (and {len(clash) - 1} more held-out pairs)" if len(clash) > 1 else "")
            + f", held out for evaluation: eval_pairs={len(held_out)} reserves pairs {held_out[0]}..{held_out[-1]}"
            " (the last of the environment's dataset); drop them from the dataset or lower eval_pairs"
        )
    return pairs


def episode_summary(episode: EpisodeRecord) -> dict[str, Any]:
    """The numbers an evaluation needs from one episode (small: gathered across ranks)."""
    return {
        "labels": dict(episode.labels),
        "final_answer": None if episode.final_answer is None else dict(episode.final_answer),
        "return": float(episode.total_reward),
        "tool_calls": int(episode.tool_calls),
        "turns": len(episode.turns),
        "valid_turns": sum(turn_format_valid(t) for t in episode.turns),
        "finished": bool(episode.terminated),
    }


def eval_metrics(summaries: Sequence[dict[str, Any]], unreadable: int = 0) -> dict[str, float | None]:
    """The ``eval/*`` figures of :func:`episode_summary` rows (``None`` where nothing is averaged)."""
    rows = [
        {"status": "ok", "swapped": False, "labels": s["labels"], "final_answer": s["final_answer"]} for s in summaries
    ]
    block = accuracy_block(rows)
    turns = sum(s["turns"] for s in summaries)

    def mean(key: str) -> float | None:
        return float(np.mean([float(s[key]) for s in summaries])) if summaries else None

    return {
        "eval/tau": block["tau"],
        "eval/diff": block["diff"],
        **{f"eval/{key}": value for key, value in block["per_dimension"].items()},
        "eval/format_valid_turn_rate": sum(s["valid_turns"] for s in summaries) / turns if turns else None,
        "eval/tool_calls_per_episode": mean("tool_calls"),
        "eval/return": mean("return"),
        "eval/finished_rate": mean("finished"),
        "eval/episodes": float(len(summaries)),
        "eval/unreadable": float(unreadable),
    }


@contextlib.contextmanager
def _eval_mode(model: Any) -> Any:
    """Every module in eval mode for the block, each restored to its own mode afterwards."""
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, training in modes:
            module.training = training


def evaluate_held_out(trainer: WindowedGRPOTrainer) -> dict[str, float | None]:
    """Greedy episodes of the current policy on this rank's share of the held-out pairs; every rank's figures."""
    import torch
    from accelerate.utils import gather_object
    from trl.models import unwrap_model_for_generation

    start = time.perf_counter()
    config, accelerator = trainer.config, trainer.accelerator
    pairs = trainer.eval_pair_indices[accelerator.process_index :: accelerator.num_processes]
    tokens = int(config.eval_max_new_tokens or config.max_completion_length or 1)
    device = accelerator.device
    devices = [device] if getattr(device, "type", "cpu") == "cuda" else []
    summaries: list[dict[str, Any]] = []
    unreadable = 0
    with (
        torch.random.fork_rng(devices=devices),
        unwrap_model_for_generation(
            trainer.model_wrapped,
            accelerator,
            gather_deepspeed3_params=config.ds3_gather_for_generation,
            gradient_checkpointing_kwargs=config.gradient_checkpointing_kwargs,  # type: ignore[arg-type]
        ) as unwrapped,
        _eval_mode(unwrapped),
        torch.no_grad(),
    ):
        backend = trainer.local_backend(unwrapped)
        if trainer._eval_engine is None:
            trainer._eval_engine = RolloutEngine(
                backend,
                trainer._base_env_factory,
                group_size=1,
                settings=GenerationSettings.greedy(max_new_tokens=tokens),
                max_batch_size=config.rollout_max_batch_size,
                seed=trainer._seed(EVAL_SEED_TAG),
                script=trainer._eval_script,
            )
        engine = trainer._eval_engine
        engine.backend = backend
        if pairs:
            result = engine.run(pairs)
            summaries = [episode_summary(e) for e in result.episodes]
            unreadable = len(result.skipped)
            if result.skipped:  # an env whose reset raised is left half-reset: start afresh next time
                engine.close()
        backend.drain()  # synced generation: ranks with fewer (or no) held-out pairs answer the others' calls
    gathered = gather_object([{"summaries": summaries, "unreadable": unreadable}])
    metrics = eval_metrics([s for part in gathered for s in part["summaries"]], sum(p["unreadable"] for p in gathered))
    metrics["eval/seconds"] = time.perf_counter() - start
    return metrics


class HeldOutEvalCallback(TrainerCallback):
    """Runs :func:`evaluate_held_out` at step 0, every ``eval_every`` steps and after the last step."""

    def __init__(self, trainer: WindowedGRPOTrainer) -> None:
        self.trainer = trainer
        self.evaluated: set[int] = set()
        metric = trainer.config.best_metric
        #: With ``best_metric``: the best evaluation so far, its policy saved to ``output_dir/best``.
        self.best = BestPolicy(metric, str(trainer.config.output_dir)) if metric else None

    def _evaluate(self, state: Any, control: Any) -> None:
        step = int(state.global_step)
        restored = any(row.get("step") == step and EVAL_KEY in row for row in state.log_history)
        if step in self.evaluated or restored:
            return
        self.evaluated.add(step)
        metrics = evaluate_held_out(self.trainer)
        self.trainer.last_eval = {"step": step, **metrics}
        if self.best is not None:
            self.best.offer(self.trainer, step, metrics)
        should_log = control.should_log
        logs: dict[str, Any] = dict(metrics)
        Trainer.log(self.trainer, logs)  # not GRPOTrainer.log: it would take the pending training metrics
        control.should_log = self.trainer.control.should_log = should_log  # on_log clears it: keep the step's log

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.best is not None:
            self.best.start(resumed=state.global_step > 0, main_process=self.trainer.accelerator.is_main_process)
        self._evaluate(state, control)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        every = self.trainer.config.eval_every
        if every > 0 and state.global_step % every == 0:
            self._evaluate(state, control)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._evaluate(state, control)
