"""Windowed multi-turn GRPO on TRL: the environment plays the episodes, every assistant turn is a row.

:class:`WindowedGRPOTrainer` subclasses TRL's ``GRPOTrainer`` (pinned to 1.16) and overrides only
``_generate_and_score_completions``. Generation is the batched, environment-driven rollout of
:class:`agents.rollout.RolloutEngine` with a :class:`TransformersBackend` over the trainer's own
model (or, with ``use_vllm=True, vllm_mode="server"``, a :class:`VLLMServerBackend` on a vLLM server
that gets the trainer's weights before each generation round: ``vllm_server_mode``), under the environment's
memory window. Each turn record becomes a row whose prompt ids,
completion ids, sampling log-probs and images are the record's own (see ``turn_rows``), so the loss
is computed on exactly the context that was sampled. Rewards come from the environment; the group
exploration term and advantages are computed after the trajectories' numbers are gathered from every
rank (``scoring``); DAPO dynamic sampling refills degenerate groups (``dynamic_sampling``) from
the training pairs only.

Logged per generation (``metrics``): the headline names (``reward``, ``reward_std``,
``rewards/<name>/mean``, ``format_rate``, ``trajectory/...``) describe the first round, played before
any refill (the policy's own reward); the refilled batch trained on is logged under ``refilled/``
(``refilled/reward``, ``refilled/rewards/<name>/mean``, ...). ``eval_every`` / ``eval_pairs`` hold out
the last pairs and evaluate the policy greedily on them (``held_out_eval``: ``eval/tau``, ``eval/diff``...).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agents.backends.base import GenerationBackend, GenerationSettings
from agents.backends.transformers_backend import TransformersBackend
from agents.records import EpisodeRecord
from agents.rollout import RolloutEngine, Script, default_env_factory
from agents.train.dynamic_sampling import SamplingReport, groups_of_slots, replacement_pairs, swap_flags
from agents.train.grpo.config import WindowedGRPOConfig
from agents.train.grpo.episodes import PairSwap, demo_script, drain, environment_reward
from agents.train.grpo.held_out_eval import HeldOutEvalCallback, held_out_pairs, training_pairs
from agents.train.grpo.launch_checks import SUPPORTED_PATHS, fsdp_problem
from agents.train.grpo.loss_logps import RowScoredGRPOTrainer
from agents.train.grpo.metrics import RoundFigures, generation_metrics, row_counts
from agents.train.grpo.row_temperature import row_temperature_problem
from agents.train.grpo.scoring import (
    COLUMN,
    STAT_FIELDS,
    GroupScores,
    episode_stats,
    score_groups,
    shuffled_advantages,
)
from agents.train.grpo.turn_rows import Row, build_batch, episode_rows, pad_rows, padded_row_count
from agents.train.grpo.vllm_server_mode import server_backend, sync_weights

#: Keys of the loss batch this trainer returns (``ref_per_token_logps`` only when ``beta != 0``).
LOSS_BATCH_KEYS: frozenset[str] = frozenset(
    {
        "prompt_ids",
        "prompt_mask",
        "completion_ids",
        "completion_mask",
        "tool_mask",
        "advantages",
        "num_items_in_batch",
        "sampling_per_token_logps",
        "row_temperatures",
        "old_per_token_logps",
        "mm_token_type_ids",
        "pixel_values",
        "image_grid_thw",
        "num_images",
    }
)


@dataclass
class GenerationRecord:
    """What the latest generation produced (for tests, benchmarks and debugging)."""

    episodes: list[EpisodeRecord | None]
    rows: list[Row]
    scores: GroupScores
    report: SamplingReport
    batch: dict[str, Any]
    seconds: dict[str, float] = field(default_factory=dict)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    #: The episodes played before any refill, with their gathered stats and scores (headline metrics).
    first_round: RoundFigures | None = None


class WindowedGRPOTrainer(RowScoredGRPOTrainer):
    """GRPO whose rollouts are the environment's windowed multi-turn episodes, one row per turn.

    ``model``: a loaded image-text-to-text model (or a path); ``processing_class``: its processor.
    ``train_dataset`` needs a ``pair_index`` column (default: every pair of the environment's
    dataset but the last ``eval_pairs``, which are held out; a dataset holding a held-out pair is
    refused). ``env_factory`` replaces ``gym.make("vr_env:VRJudge-v0", **args.environment_kwargs())``;
    ``script(episode, turn, info)`` forces scripted turns of the rollouts, ``eval_script`` those of
    the held-out evaluation (tests; see ``RolloutEngine``).
    """

    _tag_names = ["trl", "grpo", "vr-env", "windowed-multi-turn"]  # noqa: RUF012 (TRL declares it so)

    def __init__(
        self,
        model: Any,
        args: WindowedGRPOConfig,
        processing_class: Any,
        train_dataset: Any = None,
        *,
        env_factory: Callable[[], Any] | None = None,
        script: Script | None = None,
        eval_script: Script | None = None,
        callbacks: Sequence[Any] | None = None,
    ) -> None:
        if not isinstance(args, WindowedGRPOConfig):
            raise TypeError(f"args must be a WindowedGRPOConfig, got {type(args).__name__}")
        self._swaps: dict[int, bool] = {}
        base_factory = env_factory or default_env_factory(**args.environment_kwargs())
        self._base_env_factory = base_factory
        self._env_factory = lambda: PairSwap(base_factory(), self._swaps)
        probe = base_factory()
        self.num_pairs = len(probe.unwrapped.dataset)
        self.env_config = probe.unwrapped.config
        probe.close()
        self.eval_pair_indices = held_out_pairs(self.num_pairs, args.eval_pairs)
        if train_dataset is None:
            from datasets import Dataset

            train_dataset = Dataset.from_dict({"pair_index": self._default_pairs(args)})
        elif "pair_index" not in train_dataset.column_names:
            raise ValueError("the GRPO train dataset needs a 'pair_index' column (pairs of the environment's dataset)")
        #: Sorted distinct pairs of the train dataset: the only pairs dynamic sampling refills from.
        self.train_pairs = training_pairs(train_dataset["pair_index"], self.num_pairs, self.eval_pair_indices)
        self.config: WindowedGRPOConfig = args  # self.args is typed as TRL's base class
        self._script, self._eval_script = script, eval_script
        self._engine: RolloutEngine | None = None
        self._eval_engine: RolloutEngine | None = None
        self.last_eval: dict[str, Any] | None = None  # the latest held-out evaluation: step and eval/* figures
        self._fallback_rows: list[Row] = []
        self._row_temperatures: torch.Tensor | None = None  # set while TRL scores a batch (``_scored_at``)
        self.last_generation: GenerationRecord | None = None
        super().__init__(
            model=model,
            reward_funcs=[environment_reward],
            args=args,
            train_dataset=train_dataset,
            processing_class=processing_class,
            callbacks=list(callbacks) if callbacks else None,
        )
        self.image_token_id = int(
            getattr(processing_class, "image_token_id", None) or self._tokenizer.convert_tokens_to_ids("<|image_pad|>")
        )
        if self.is_fsdp_enabled:  # the config refuses it; an accelerate plugin set in code reaches here
            raise ValueError(
                fsdp_problem(args) or f"FSDP is not supported by the windowed GRPO trainer; use {SUPPORTED_PATHS}"
            )
        dtype = getattr(self.accelerator.unwrap_model(self.model), "dtype", None)
        if args.old_logps == "sampling" and dtype is not None and dtype != torch.float32:
            raise ValueError(
                f"old_logps='sampling' with a {dtype} model: cached decoding and the loss's full forward differ in "
                "half precision; use old_logps='forward' (or 'auto') or load the model in float32"
            )
        if args.temperature_after_first not in (None, self.temperature):
            problem = row_temperature_problem(self.model)
            if problem:
                raise ValueError(f"temperature_after_first needs per-row temperatures in the loss, but {problem}")
        if args.freeze_vision:  # before train() builds the optimizer from the parameters that require grad
            from agents.train.sft import vision_parameters

            for parameter in vision_parameters(self.accelerator.unwrap_model(self.model)):
                parameter.requires_grad_(False)
        if args.eval_every > 0:
            self.add_callback(HeldOutEvalCallback(self))

    def _default_pairs(self, args: WindowedGRPOConfig) -> list[int]:
        """Every pair but the held-out ones; with ``train_pairs_from``, only those its samples disagree on."""
        held_out = set(self.eval_pair_indices)
        if args.train_pairs_from is None:
            return [i for i in range(self.num_pairs) if i not in held_out]
        from agents.train.pass_rates import informative_pairs

        pairs = [i for i in informative_pairs(args.train_pairs_from, exclude=sorted(held_out)) if i < self.num_pairs]
        if not pairs:
            raise ValueError(
                f"train_pairs_from={args.train_pairs_from}: no pair of the environment's {self.num_pairs} (held-out "
                "ones aside) has samples that scored different accuracies; nothing for GRPO to learn from there "
                "(record more samples per pair, or drop train_pairs_from to train on every pair)"
            )
        return pairs

    # ------------------------------------------------------------------ rollouts
    @property
    def generation_settings(self) -> GenerationSettings:
        """Sampling settings of the rollouts: the loss's temperature on every turn."""
        return GenerationSettings(
            temperature=self.temperature,
            top_p=self.top_p,
            top_k=self.top_k or 0,
            max_new_tokens=int(self.max_completion_length or 1),
            do_sample=True,
            temperature_after_first=self.config.temperature_after_first,  # the loss scores each row at its own
        )

    @property
    def synced_generation(self) -> bool:
        """Whether generation is collective (see ``WindowedSettings.synced_generation``)."""
        mode = self.config.synced_generation
        if mode != "auto":
            return mode == "on"
        plugin = getattr(self.accelerator.state, "deepspeed_plugin", None)
        zero3 = self.is_deepspeed_enabled and plugin is not None and plugin.zero_stage == 3
        return bool(zero3 and not self.config.ds3_gather_for_generation)

    def local_backend(self, model: Any) -> TransformersBackend:
        """A backend over the unwrapped (under ZeRO-3 gathered, unless configured not to) policy."""
        return TransformersBackend(
            model,
            self.processing_class,
            share_prefix=self.config.share_prefix,
            synced_gpus=self.synced_generation,
        )

    def _seed(self, *parts: int) -> int:
        return int(np.random.SeedSequence([self.config.seed, *parts]).generate_state(1)[0] % (2**31))

    def _play(self, backend: GenerationBackend, pairs: Sequence[int], seed: int) -> list[EpisodeRecord | None]:
        """One episode per entry of ``pairs`` (``None`` where the pair could not be read)."""
        if self._engine is None:
            self._engine = RolloutEngine(
                backend, self._env_factory, group_size=1, settings=self.generation_settings, seed=seed
            )
        engine = self._engine
        engine.backend, engine.seed = backend, seed
        engine.max_batch_size = self.config.rollout_max_batch_size
        if self._script is not None:
            engine.script = self._script
        elif self.config.demo_script_share > 0:
            config = self.env_config
            engine.script = demo_script(self.config.demo_script_share, seed, config.total_frames, config.max_tool_calls)
        result = engine.run(list(pairs))
        self._skipped.extend(result.skipped)
        if result.skipped:  # an env whose reset raised is left half-reset by gymnasium's checker: start afresh
            engine.close()
        by_position: dict[int, EpisodeRecord] = {e.group: e for e in result.episodes}
        return [by_position.get(i) for i in range(len(pairs))]

    def _gather_stats(self, episodes: Sequence[EpisodeRecord | None]) -> np.ndarray:
        from accelerate.utils import gather

        local = torch.tensor([episode_stats(e) for e in episodes], dtype=torch.float64, device=self.accelerator.device)
        return gather(local).double().cpu().numpy()

    def _gather_pairs(self, pairs: Sequence[int]) -> list[int]:
        from accelerate.utils import gather

        return [int(i) for i in gather(torch.tensor(list(pairs), device=self.accelerator.device)).tolist()]

    def _rollout(
        self, pairs: list[int], group_size: int
    ) -> tuple[list[EpisodeRecord | None], GroupScores, SamplingReport, RoundFigures]:
        """Play the batch, then refill degenerate groups (dynamic sampling) up to the cap.

        Also returns the first round (the episodes before any refill, their stats and scores).
        Replacement pairs come from ``self.train_pairs`` only, avoiding the dropped groups' pairs.
        """
        from trl.models import unwrap_model_for_generation

        rank, step = self.accelerator.process_index, self.state.global_step
        slot_groups = [(rank * len(pairs) + i) // group_size for i in range(len(pairs))]
        weights = self.env_config.reward
        if self.config.swap_videos:
            self._swaps.clear()
        if self.use_vllm:
            sync_weights(self)  # TRL's sync (ZeRO-3 gathers on every rank), once per optimizer step
        local_model = (
            contextlib.nullcontext(None)  # the server generates: no gathered copy of the model here
            if self.use_vllm
            else unwrap_model_for_generation(
                self.model_wrapped,
                self.accelerator,
                gather_deepspeed3_params=self.config.ds3_gather_for_generation,
                gradient_checkpointing_kwargs=self.config.gradient_checkpointing_kwargs,  # type: ignore[arg-type]
            )
        )
        with local_model as unwrapped, torch.no_grad():
            backend: GenerationBackend = server_backend(self) if self.use_vllm else self.local_backend(unwrapped)
            if self.config.swap_videos:
                self._swaps.update(swap_flags(pairs, self.config.seed, step))
            episodes = self._play(backend, pairs, self._seed(step, rank, 0))
            drain(backend)
            report = SamplingReport(groups=0)
            round_ = 0
            while True:
                stats = self._gather_stats(episodes)
                scores = score_groups(
                    stats, group_size, weights.exploration_omega, weights.exploration_eta, self.scale_rewards
                )
                report.groups = len(scores.degenerate)
                dropped = np.flatnonzero(scores.degenerate)
                report.rounds_dropped.append(len(dropped))
                if round_ == 0:
                    report.dropped_first = len(dropped)
                    first = RoundFigures(list(episodes), stats, scores)
                if not self.config.dynamic_sampling or not len(dropped) or round_ >= self.config.max_refill_rounds:
                    break
                round_ += 1
                dropped_groups = set(dropped.tolist())  # every rank: the same pool, avoid list and draw
                avoid = [p for i, p in enumerate(self._gather_pairs(pairs)) if i // group_size in dropped_groups]
                new_pairs = replacement_pairs(len(dropped), self.train_pairs, self.config.seed, step, round_, avoid)
                mapping = dict(zip(dropped.tolist(), new_pairs, strict=True))
                local = groups_of_slots(slot_groups, dropped.tolist())
                if local:
                    replay = [mapping[slot_groups[i]] for i in local]
                    if self.config.swap_videos:
                        self._swaps.update(swap_flags(replay, self.config.seed, step * 1000 + round_))
                    played = self._play(backend, replay, self._seed(step, rank, round_))
                    for i, episode, pair in zip(local, played, replay, strict=True):
                        episodes[i], pairs[i] = episode, pair
                drain(backend)  # ranks without dropped slots answer the others' synced generation calls
                report.refill_rounds = round_
                report.refilled += len(dropped)
            report.unfilled = len(dropped) if self.config.dynamic_sampling else 0
        self._last_stats = stats
        return episodes, scores, report, first

    def _trained(self, dropped_groups: set[int], group_size: int) -> np.ndarray:
        """Which trajectories of the gathered batch the loss sees (ran, group kept, not masked as truncated)."""
        stats = self._last_stats
        trained = stats[:, COLUMN["valid"]] > 0
        trained &= ~np.isin(np.arange(len(stats)) // group_size, list(dropped_groups))
        if self.mask_truncated_completions:
            trained &= stats[:, COLUMN["length_truncated"]] == 0
        return trained

    # ------------------------------------------------------------------ the TRL hook
    def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        mode = "train" if self.model is not None and self.model.training else "eval"
        group_size = int((self.num_generations if mode == "train" else self.num_generations_eval) or 1)
        pairs = [int(x["pair_index"]) for x in inputs]
        self._skipped: list[dict[str, Any]] = []
        start = time.perf_counter()
        episodes, scores, report, first = self._rollout(pairs, group_size)
        rollout_seconds = time.perf_counter() - start

        start = time.perf_counter()
        rank, n_local = self.accelerator.process_index, len(pairs)
        local = slice(rank * n_local, (rank + 1) * n_local)
        dropped_groups = set(np.flatnonzero(scores.degenerate).tolist()) if self.config.dynamic_sampling else set()
        trained = self._trained(dropped_groups, group_size)
        advantages = scores.advantages
        if self.config.shuffle_advantages:
            advantages = shuffled_advantages(advantages, trained, self.config.seed, self.state.global_step)
        advantages, trained = advantages[local], trained[local]
        rows: list[Row] = []
        for i, episode in enumerate(episodes):
            if episode is None:
                continue
            rows.extend(episode_rows(episode, float(advantages[i]), 1.0 if trained[i] else 0.0))
        real_rows = len(rows)
        if not rows and self._fallback_rows:  # keep this rank in step with a zero-weight row
            rows = [replace(self._fallback_rows[0], weight=0.0, advantage=0.0)]
        counts = self._gather_counts(len(rows))
        if min(counts) == 0:
            raise RuntimeError(
                "a rank has no trajectory to train on (every pair it drew was unreadable) and no earlier row to "
                f"pad with; skipped: {self._skipped[:3]}"
            )
        target = padded_row_count(len(rows), counts, int(self.config.steps_per_generation or 1))
        rows = pad_rows(rows, target)
        self._fallback_rows = rows[:1]
        device = self.accelerator.device
        batch = build_batch(
            rows,
            self.processing_class,
            pad_token_id=self._tokenizer.pad_token_id,
            image_token_id=self.image_token_id,
            device=device,
            pad_to_multiple_of=self.pad_to_multiple_of if isinstance(self.pad_to_multiple_of, int) else None,
        )
        if "pixel_values" in batch:
            batch["pixel_values"] = batch["pixel_values"].to(self.accelerator.unwrap_model(self.model).dtype)
        loss_mask = batch["completion_mask"] * batch["tool_mask"]
        batch["num_items_in_batch"] = self.accelerator.gather(loss_mask.sum()).sum()
        self._add_old_and_ref_logps(batch, mode)
        scoring_seconds = time.perf_counter() - start
        final = RoundFigures(episodes, self._last_stats, scores)
        seconds = {"rollout": rollout_seconds, "scoring": scoring_seconds}
        counts = self._gather_sums(row_counts(rows, real_rows))
        for key, value in generation_metrics(first, final, report, counts, seconds).items():
            self._metrics[mode][key].append(value)
        self.last_generation = GenerationRecord(
            episodes=episodes,
            rows=rows,
            scores=scores,
            report=report,
            batch=batch,
            seconds=seconds,
            skipped=list(self._skipped),
            first_round=first,
        )
        return batch

    def _gather_sums(self, values: Sequence[int]) -> list[int]:
        """``values`` summed element-wise over every rank."""
        from accelerate.utils import gather

        local = torch.tensor([list(values)], dtype=torch.int64, device=self.accelerator.device)
        return [int(v) for v in gather(local).sum(dim=0).tolist()]

    def _gather_counts(self, count: int) -> list[int]:
        from accelerate.utils import gather

        return [int(c) for c in gather(torch.tensor([count], device=self.accelerator.device)).tolist()]

    # ------------------------------------------------------------------ resuming
    def _load_from_checkpoint(self, resume_from_checkpoint: str, model: Any = None) -> None:
        """Trainer's loader, then the weights again through ``from_pretrained``.

        transformers 5.24's ``Trainer`` loads ``model.safetensors`` with ``strict=False`` and without the
        model's key conversion, so a Qwen-VL checkpoint (saved under its legacy key names) resumes with
        only ``lm_head`` restored and a warning. Reloading with ``from_pretrained`` applies the
        conversion; the state dict is then copied in strictly.
        """
        super()._load_from_checkpoint(resume_from_checkpoint, model)
        if self.is_deepspeed_enabled or self.is_fsdp_enabled:
            return  # their engines load their own sharded states
        target = self.accelerator.unwrap_model(model if model is not None else self.model)
        if not (Path(resume_from_checkpoint) / "config.json").is_file():
            return  # an adapter-only (PEFT) checkpoint: the base loader handled it
        reloaded = type(target).from_pretrained(resume_from_checkpoint, dtype=target.dtype)
        target.load_state_dict(reloaded.state_dict(), strict=True)


__all__ = [
    "LOSS_BATCH_KEYS",
    "STAT_FIELDS",
    "GenerationRecord",
    "WindowedGRPOTrainer",
    "demo_script",
    "environment_reward",
]
