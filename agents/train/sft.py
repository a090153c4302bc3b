"""SFT on TRL's ``SFTTrainer``: every assistant turn learned in exactly its windowed context.

One training example per assistant turn. Its prompt is the context the environment produced at that
turn (rebuilt by replaying the recorded episode: evicted images absent, their text present), rendered
the way the rollout path renders it (:func:`encode_prompt`); its completion is the turn's token ids
(the recorded, sampled ids when the record has them, else the text tokenized plus ``<|im_end|>``).
Labels are -100 on every prompt token (system, user, tool results, images, earlier turns) and on
padding: only the turn's own tokens carry loss. Batches are built by
:func:`agents.records.turn_model_inputs`, the same builder the GRPO loss uses.

``train_sft(model, traces, out_dir, config)`` loads and replays the traces (bad lines, unreadable
videos and diverging replays are skipped and counted), trains with :class:`WindowedSFTTrainer`
(LoRA, frozen vision tower and gradient checkpointing are options of :class:`SFTRunConfig`),
resumes from the latest ``checkpoint-*`` in ``out_dir`` after a kill, and saves the final model as
safetensors with its processor, ``train_config.json`` and ``train_report.json``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from trl import SFTConfig, SFTTrainer

from agents.records import EpisodeRecord, TurnRecord, load_jsonl, turn_model_inputs
from agents.train.config import SFTRunConfig, describe, save_config
from vr_env.context import Context, to_chat_messages

IGNORE_INDEX = -100
CONFIG_FILE = "train_config.json"
REPORT_FILE = "train_report.json"


class ModelPathError(ValueError):
    """The model path does not exist or does not hold a vision-language model."""


def check_model_path(path: str | Path) -> Path:
    """Fail early, before anything loads: the folder must exist and hold an image-text-to-text model."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

    folder = Path(path)
    if not folder.exists():
        raise ModelPathError(f"model path {folder} does not exist (nothing is downloaded: give a local folder)")
    config = folder / "config.json"
    if not config.is_file():
        raise ModelPathError(f"model path {folder} has no config.json: not a Hugging Face model folder")
    try:
        model_type = json.loads(config.read_text(encoding="utf-8")).get("model_type")
    except ValueError as error:
        raise ModelPathError(f"{config} is not valid JSON: {error}") from error
    if model_type not in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES:
        raise ModelPathError(
            f"model path {folder} holds a {model_type!r} model, not a vision-language (image-text-to-text) model"
        )
    return folder


def encode_prompt(processor: Any, context: Context) -> tuple[list[int], Any]:
    """``(prompt_ids, image_grid_thw)`` of ``context`` rendered as the rollout path renders it."""
    messages = to_chat_messages(context)
    text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    images = [block["image"] for m in messages for block in m["content"] if block["type"] == "image"]
    encoded = processor(text=[text], images=images or None, return_tensors="pt")
    grid = encoded.get("image_grid_thw")
    return encoded["input_ids"][0].tolist(), None if grid is None else grid.numpy()


def completion_ids_for(tokenizer: Any, text: str) -> list[int]:
    """The ids a turn's text is learned as: its tokens, then the end-of-turn token."""
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    end = end if isinstance(end, int) and end >= 0 else tokenizer.eos_token_id
    return [*tokenizer.encode(text, add_special_tokens=False), end]


@dataclass
class ExampleSet:
    """Training turns (records with ids and rebuilt contexts) and what was skipped, by reason."""

    turns: list[TurnRecord] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    episodes: int = 0
    recorded_ids: int = 0


def turn_examples(episodes: Sequence[EpisodeRecord], processor: Any, *, verify_prompt_ids: bool = True) -> ExampleSet:
    """One example per assistant turn of replayed ``episodes`` (turns must carry their contexts).

    Turns with recorded ids keep them (no decode/re-encode); ``verify_prompt_ids`` checks them
    against the rendering of the rebuilt context and skips the turn, with a reason, if they differ.
    """
    tokenizer = getattr(processor, "tokenizer", processor)
    out = ExampleSet(episodes=len(episodes))
    for episode in episodes:
        for turn in episode.turns:
            if not turn.has_context:
                raise ValueError(f"episode {episode.episode} turn {turn.turn} has no context: replay it first")
            if turn.prompt_ids is not None and turn.completion_ids is not None:
                if verify_prompt_ids:
                    ids, _ = encode_prompt(processor, turn.context)
                    if ids != list(turn.prompt_ids):
                        out.problems.append(
                            f"episode {episode.episode} ({episode.pair_id}) turn {turn.turn}: recorded prompt ids "
                            "differ from the replayed context's rendering (another processor or chat template?)"
                        )
                        continue
                out.recorded_ids += 1
                out.turns.append(turn)
                continue
            prompt_ids, grid = encode_prompt(processor, turn.context)
            out.turns.append(
                replace(
                    turn,
                    prompt_ids=prompt_ids,
                    completion_ids=completion_ids_for(tokenizer, turn.text),
                    image_grid_thw=grid,
                )
            )
    return out


def turn_dataset(turns: Sequence[TurnRecord]) -> Any:
    """A ``datasets.Dataset`` of turn indices (what TRL accepts); :class:`TurnCollator` holds the turns."""
    from datasets import Dataset

    return Dataset.from_dict({"turn_index": list(range(len(turns)))})


class TurnCollator:
    """Left-padded model inputs of the batch's turns plus labels (-100 except the completion ids)."""

    def __init__(self, processor: Any, turns: Sequence[TurnRecord]) -> None:
        self.processor = processor
        self.turns = list(turns)

    def __call__(self, items: Sequence[dict[str, Any]]) -> dict[str, Any]:
        return turn_batch([self.turns[int(item["turn_index"])] for item in items], self.processor)


def turn_batch(turns: Sequence[TurnRecord], processor: Any) -> dict[str, Any]:
    """Model inputs of ``turns`` (:func:`agents.records.turn_model_inputs`) with ``labels``."""
    inputs = turn_model_inputs(turns, processor)
    labels = inputs["input_ids"].clone()
    labels[:] = IGNORE_INDEX
    width = labels.shape[1]
    for row, turn in enumerate(turns):
        n = len(turn.completion_ids or [])
        labels[row, width - n :] = inputs["input_ids"][row, width - n :]
    inputs["labels"] = labels
    return inputs


class WindowedSFTTrainer(SFTTrainer):
    """``SFTTrainer`` on pre-built per-turn examples: dataset preparation is skipped and the batches
    (ids, labels, pixel values, grids, ``mm_token_type_ids``) come from :class:`TurnCollator`."""

    def __init__(
        self, *, model: Any, args: SFTConfig, turns: Sequence[TurnRecord], processing_class: Any, **kwargs: Any
    ) -> None:
        super().__init__(
            model=model,
            args=args,
            train_dataset=turn_dataset(turns),
            data_collator=TurnCollator(processing_class, turns),
            processing_class=processing_class,
            **kwargs,
        )

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model: Any = None) -> None:
        """Resume full-model weights through ``from_pretrained``.

        transformers 5.24 saves Qwen-VL checkpoints under the original key names
        (``visual.*``, ``model.layers.*``) but ``Trainer._load_from_checkpoint`` loads them with a plain
        ``load_state_dict`` without the key conversion: every key misses and the resumed run silently
        starts from the initial weights. Loading through ``from_pretrained`` applies the conversion.
        """
        from peft import PeftModel

        target: Any = model if model is not None else self.model
        if isinstance(target, PeftModel):
            super()._load_from_checkpoint(resume_from_checkpoint, model)
            return
        loaded = type(target).from_pretrained(resume_from_checkpoint, dtype=next(target.parameters()).dtype)
        target.load_state_dict(loaded.state_dict(), strict=True)


def trl_config(config: SFTRunConfig, out_dir: str | Path) -> SFTConfig:
    """The ``SFTConfig`` a run uses: our fields, plus what per-turn examples need."""
    return SFTConfig(
        output_dir=str(out_dir),
        learning_rate=config.learning_rate,
        warmup_steps=float(config.warmup_ratio),  # a float in [0, 1) is a ratio of the total steps
        per_device_train_batch_size=config.per_device_train_batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        num_train_epochs=config.num_train_epochs,
        max_steps=config.max_steps,
        lr_scheduler_type=config.lr_scheduler_type,
        weight_decay=config.weight_decay,
        max_grad_norm=config.max_grad_norm,
        seed=config.seed,
        data_seed=config.seed,
        gradient_checkpointing=config.gradient_checkpointing,
        bf16=config.bf16,
        use_cpu=config.use_cpu,
        logging_steps=config.logging_steps,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=config.save_total_limit,
        dataloader_num_workers=config.dataloader_num_workers,
        max_length=None,
        dataset_kwargs={"skip_prepare_dataset": True},
        remove_unused_columns=False,
        report_to="none",
        disable_tqdm=True,
    )


def load_model(path: str | Path, config: SFTRunConfig) -> tuple[Any, Any]:
    """Model (float32, or bfloat16 with ``bf16``) and processor from a checked local folder."""
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    folder = check_model_path(path)
    dtype = torch.bfloat16 if config.bf16 else torch.float32
    model = AutoModelForImageTextToText.from_pretrained(str(folder), dtype=dtype)
    processor = AutoProcessor.from_pretrained(str(folder))
    return model, processor


def vision_parameters(model: Any) -> list[Any]:
    """Parameters of the vision tower (``visual`` modules of Qwen-VL models)."""
    return [p for name, p in model.named_parameters() if ".visual." in f".{name}" or name.startswith("visual.")]


def prepare_model(model: Any, config: SFTRunConfig) -> Any:
    """Freeze the vision tower and wrap LoRA adapters as configured."""
    if config.freeze_vision:
        for parameter in vision_parameters(model):
            parameter.requires_grad_(False)
    if config.lora:
        from peft import LoraConfig, get_peft_model

        lora = LoraConfig(
            r=config.lora_r,
            lora_alpha=config.lora_alpha,
            lora_dropout=config.lora_dropout,
            target_modules=[m.strip() for m in config.lora_target_modules.split(",") if m.strip()],
            task_type="CAUSAL_LM",
        )
        model = get_peft_model(model, lora)
    return model


@dataclass
class SFTResult:
    """Where the model went and what the run saw."""

    out_dir: str
    examples: int
    episodes: int
    problems: list[str]
    resumed_from: str | None
    log_history: list[dict[str, Any]]

    def losses(self) -> list[float]:
        return [float(r["loss"]) for r in self.log_history if "loss" in r]


def load_and_replay(
    traces: str | Path | Sequence[EpisodeRecord],
    *,
    dataset: Any | None = None,
    env_config: dict[str, Any] | None = None,
) -> tuple[list[EpisodeRecord], list[str]]:
    """Episodes with rebuilt contexts, and the problems (bad lines, unreadable videos, diverging replays)."""
    from agents.replay import Replayer, ReplayError
    from vr_env.video.errors import VideoError

    problems: list[str] = []
    if isinstance(traces, (str, Path)):
        loaded = load_jsonl(traces)
        episodes, problems = loaded.episodes, list(loaded.problems)
    else:
        episodes = list(traces)
    replayer = Replayer(dataset=dataset, env_config=env_config)
    replayed = []
    try:
        for episode in episodes:
            if episode.meta.get("rejected") or episode.meta.get("accepted") is False:
                problems.append(f"episode {episode.episode} ({episode.pair_id}): marked rejected, not trained on")
                continue
            if all(t.has_context for t in episode.turns):
                replayed.append(episode)
                continue
            try:
                replayed.append(replayer.replay(episode))
            except (VideoError, ReplayError) as error:
                problems.append(f"episode {episode.episode} (pair {episode.pair_index} {episode.pair_id}): {error}")
    finally:
        replayer.close()
    return replayed, problems


def train_sft(
    model_path: str | Path,
    traces: str | Path | Sequence[EpisodeRecord],
    out_dir: str | Path,
    config: SFTRunConfig | None = None,
    *,
    dataset: Any | None = None,
    env_config: dict[str, Any] | None = None,
    callbacks: Sequence[Any] | None = None,
    resume: bool = True,
    verbose: bool = True,
) -> SFTResult:
    """Train ``model_path`` on the turns of ``traces`` (a JSONL file or folder, or records); see the module."""
    import torch
    from transformers.trainer_utils import get_last_checkpoint

    config = config or SFTRunConfig()
    check_model_path(model_path)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    save_config(
        out,
        CONFIG_FILE,
        sft=config,
        model=str(model_path),
        traces=str(traces) if isinstance(traces, (str, Path)) else "records",
    )
    if verbose:
        print(f"SFT configuration (saved to {out / CONFIG_FILE}):\n{describe(config)}", flush=True)
    if config.torch_threads > 0:
        torch.set_num_threads(config.torch_threads)
    episodes, problems = load_and_replay(traces, dataset=dataset, env_config=env_config)
    model, processor = load_model(model_path, config)
    examples = turn_examples(episodes, processor, verify_prompt_ids=config.verify_prompt_ids)
    problems += examples.problems
    if verbose:
        print(
            f"{len(examples.turns)} training turns from {len(episodes)} episodes; {len(problems)} problem(s)",
            flush=True,
        )
        for problem in problems[:10]:
            print(f"  skipped: {problem}", flush=True)
    if not examples.turns:
        raise ValueError(f"no usable training turns in {traces}: " + "; ".join(problems[:5]))
    model = prepare_model(model, config)
    last = get_last_checkpoint(str(out)) if resume and out.is_dir() else None
    trainer = WindowedSFTTrainer(
        model=model,
        args=trl_config(config, out),
        turns=examples.turns,
        processing_class=processor,
        callbacks=list(callbacks or []),
    )
    if verbose and last:
        print(f"resuming from {last}", flush=True)
    trainer.train(resume_from_checkpoint=last)
    final: Any = trainer.model
    if config.lora:
        final = final.merge_and_unload()
    final.save_pretrained(str(out))
    processor.save_pretrained(str(out))
    result = SFTResult(
        out_dir=str(out),
        examples=len(examples.turns),
        episodes=len(episodes),
        problems=problems,
        resumed_from=last,
        log_history=list(trainer.state.log_history),
    )
    (out / REPORT_FILE).write_text(json.dumps(vars(result), indent=2, default=str) + "\n", encoding="utf-8")
    return result
