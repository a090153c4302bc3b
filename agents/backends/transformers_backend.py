"""Batched generation with a transformers image-text-to-text model (CPU or GPU).

Prompts are rendered with the processor's chat template and left-padded; ``model.generate`` stops
each row at its end-of-turn token. Log-probabilities of the sampled ids are taken from the model's
raw logits divided by the sampling temperature (captured with a forward hook on the output
embedding, before any logits processor): the quantity a training forward pass recomputes.

Shared prefix (``shared_prefix``): rows of one call whose rendered prompt and images are identical
(the first turn of the G episodes of a GRPO group) are prefilled once, and every row decodes from
the gathered KV cache. The logits processors live in ``generation_hooks``, the conversation's
payload helpers in ``conversation_media`` (re-exported here).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from agents.backends.base import Conversation, Generation, GenerationSettings
from agents.backends.conversation_media import conversation_images, conversation_videos, no_videos
from agents.backends.generation_hooks import (
    ForcedTokensLogitsProcessor,
    RowLengthCriteria,
    SampledLogprobs,
    seeded,
)
from agents.backends.lockstep import LockstepGate
from agents.backends.shared_prefix import SharingUnsupportedError, prefill_shared, share_plan

#: Tokens a judge must never emit: an image placeholder in its own text breaks re-rendering.
VISION_TOKENS: tuple[str, ...] = (
    "<|image_pad|>",
    "<|video_pad|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
)
#: End-of-turn tokens of Qwen chat models.
STOP_TOKENS: tuple[str, ...] = ("<|im_end|>", "<|endoftext|>")

logger = logging.getLogger(__name__)


def _token_ids(tokenizer: Any, tokens: Sequence[str]) -> list[int]:
    """Ids of those ``tokens`` the tokenizer knows as single tokens."""
    vocab = tokenizer.get_vocab()
    return [vocab[t] for t in tokens if t in vocab]


class TransformersBackend:
    """:class:`~agents.backends.base.GenerationBackend` over a transformers model and its processor.

    ``max_batch_size`` splits large batches into chunks (``None``: one chunk). ``share_prefix``
    (default on) prefills the identical prompts of a chunk once and continues every row from the
    gathered KV cache (see the module docstring); results are those of the plain path. A model
    that cannot continue from a gathered cache falls back to the plain path:
    ``share_prefix_disabled`` then holds the reason. ``prefill_stats`` counts rows generated, prompts
    prefilled and calls that shared a prefill, over the backend's life.

    ``synced_gpus`` (for a model whose forward pass is a collective: ZeRO-3 without gathered
    parameters, FSDP): ``model.generate`` keeps the ranks' decoding steps in step, and a
    :class:`~agents.backends.lockstep.LockstepGate` their calls; every rank must call :meth:`drain`
    at the same points (the end of each rollout round). The shared prefill is off then (it is an extra
    forward pass other ranks would not make). Otherwise ``synced_gpus=False`` is passed explicitly, so
    transformers never turns it on behind the caller's back (it does under ZeRO-3 with several ranks,
    even when the parameters are gathered and the ranks' calls differ).
    """

    def __init__(
        self,
        model: Any,
        processor: Any,
        *,
        max_batch_size: int | None = None,
        share_prefix: bool = True,
        synced_gpus: bool = False,
    ) -> None:
        self.model = model
        self.processor = processor
        self.tokenizer = getattr(processor, "tokenizer", processor)
        self.max_batch_size = max_batch_size
        self.share_prefix = share_prefix
        self.share_prefix_disabled: str | None = None
        self.synced_gpus = synced_gpus
        self.gate: LockstepGate | None = None
        if synced_gpus:
            self.gate = LockstepGate(getattr(model, "device", None))
            if share_prefix:
                self.share_prefix_disabled = "synced generation: the shared prefill is a forward pass other ranks skip"
        self.prefill_stats: dict[str, int] = {"rows": 0, "prefilled": 0, "shared_calls": 0}
        configured = getattr(model.generation_config, "eos_token_id", None)
        configured = [] if configured is None else [configured] if isinstance(configured, int) else list(configured)
        self.stop_token_ids: list[int] = sorted(set(configured) | set(_token_ids(self.tokenizer, STOP_TOKENS)))
        if not self.stop_token_ids and self.tokenizer.eos_token_id is not None:
            self.stop_token_ids = [self.tokenizer.eos_token_id]
        self.suppressed_token_ids = _token_ids(self.tokenizer, VISION_TOKENS)
        pad = self.tokenizer.pad_token_id
        self.pad_token_id: int = pad if pad is not None else self.stop_token_ids[0]
        self.image_token_id: int | None = getattr(processor, "image_token_id", None)

    @classmethod
    def from_pretrained(
        cls, path: str | Path, *, device: str | None = None, dtype: str | None = None, **kwargs: Any
    ) -> TransformersBackend:
        """Load model and processor from a local folder or hub name (``dtype``: "auto", "bfloat16", ...)."""
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor

        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        torch_dtype: Any = dtype if dtype in (None, "auto") else getattr(torch, dtype)
        model = AutoModelForImageTextToText.from_pretrained(str(path), dtype=torch_dtype or "auto")
        model.to(device)  # type: ignore[arg-type]
        model.eval()
        processor = AutoProcessor.from_pretrained(str(path))
        return cls(model, processor, **kwargs)

    @property
    def device(self) -> Any:
        return self.model.device

    def render(self, conversations: Sequence[Conversation]) -> list[str]:
        """Prompt texts (chat template with the generation prompt), one per conversation."""
        return [
            self.processor.apply_chat_template(list(c), tokenize=False, add_generation_prompt=True)
            for c in conversations
        ]

    def encode(self, conversations: Sequence[Conversation], texts: Sequence[str] | None = None) -> Any:
        """Left-padded model inputs (``input_ids``, ``attention_mask``, ``pixel_values``, ...) on the device.

        ``texts``: the conversations already rendered (:meth:`render`).
        """
        texts = self.render(conversations) if texts is None else list(texts)
        images = [image for c in conversations for image in conversation_images(c)]
        videos = [video for c in conversations for video in conversation_videos(c)]
        extra: dict[str, Any] = {}
        if videos:
            if getattr(self.processor, "video_processor", None) is None:
                raise ValueError("this model's processor takes no video input; set initial_frames_input='images'")
            extra["videos"] = videos
        batch = self.processor(
            text=texts, images=images or None, padding=True, padding_side="left", return_tensors="pt", **extra
        )
        batch = batch.to(self.device)
        for key in ("pixel_values", "pixel_values_videos"):
            if key in batch:
                batch[key] = batch[key].to(self.model.dtype)
        return batch

    def _generation_config(self, settings: GenerationSettings) -> Any:
        from transformers import GenerationConfig

        sampling: dict[str, Any] = (
            {"do_sample": True, "temperature": settings.temperature, "top_p": settings.top_p, "top_k": settings.top_k}
            if settings.do_sample
            else {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
        )
        return GenerationConfig(
            max_new_tokens=settings.max_new_tokens,
            eos_token_id=self.stop_token_ids,
            pad_token_id=self.pad_token_id,
            repetition_penalty=1.0,
            num_beams=1,
            num_return_sequences=1,
            return_dict_in_generate=True,
            **sampling,
        )

    def generate(
        self,
        conversations: Sequence[Conversation],
        settings: GenerationSettings,
        *,
        forced_token_ids: Sequence[Sequence[int] | None] | None = None,
    ) -> list[Generation]:
        """One turn per conversation. ``forced_token_ids[i]`` (optional) scripts row ``i``'s ids.

        A forced row runs its whole script (its own length limit); free rows stop at
        ``settings.max_new_tokens`` or their end-of-turn token.
        """
        if forced_token_ids is not None and len(forced_token_ids) != len(conversations):
            raise ValueError("forced_token_ids needs one entry (a list or None) per conversation")
        size = self.max_batch_size or max(len(conversations), 1)
        results: list[Generation] = []
        for start in range(0, len(conversations), size):
            chunk = list(conversations[start : start + size])
            forced = None if forced_token_ids is None else list(forced_token_ids[start : start + size])
            seed = None if settings.seed is None else settings.seed + start
            results.extend(self._generate_chunk(chunk, settings, forced, seed))
        return results

    def drain(self) -> int:
        """Synced generation: dummy calls until no rank generates any more (every rank, same point).

        Returns the dummy calls made (0 without ``synced_gpus`` or a process group).
        """
        if self.gate is None:
            return 0
        settings = GenerationSettings.greedy(max_new_tokens=1)
        return self.gate.drain(lambda: self._generate_chunk([self._dummy_conversation()], settings, None, None, False))

    def _dummy_conversation(self) -> Conversation:
        """A one-image (when the processor takes images), one-word prompt: runs every tower of the model."""
        content: list[dict[str, Any]] = [{"type": "text", "text": "."}]
        if getattr(self.processor, "image_processor", None) is not None:
            content.insert(0, {"type": "image", "image": np.zeros((28, 28, 3), dtype=np.uint8)})
        return [{"role": "user", "content": content}]

    def _generate_chunk(
        self,
        conversations: list[Conversation],
        settings: GenerationSettings,
        forced: list[Sequence[int] | None] | None,
        seed: int | None,
        announce: bool = True,
    ) -> list[Generation]:
        if self.gate is not None and announce:
            self.gate.announce()
        texts = self.render(conversations)
        plan = share_plan(texts, conversations) if self.share_prefix and self.share_prefix_disabled is None else None
        self.prefill_stats["rows"] += len(conversations)
        if plan is not None:
            unique_rows, mapping = plan
            unique = [conversations[i] for i in unique_rows]
            batch = self.encode(unique, [texts[i] for i in unique_rows])
            try:
                cache = self._prefill(batch, mapping)
            except (SharingUnsupportedError, TypeError, ValueError, AttributeError) as error:
                self.share_prefix_disabled = f"{type(self.model).__name__}: {error}"
                logger.warning("shared-prefix prefill disabled, using the plain path: %s", self.share_prefix_disabled)
            else:
                self.prefill_stats["prefilled"] += len(unique_rows)
                self.prefill_stats["shared_calls"] += 1
                return self._decode(conversations, batch, settings, forced, seed, mapping, cache)
        self.prefill_stats["prefilled"] += len(conversations)
        batch = self.encode(conversations, texts)
        return self._decode(conversations, batch, settings, forced, seed, list(range(len(conversations))), None)

    def _prefill(self, batch: Any, mapping: Sequence[int]) -> Any:
        """:func:`~agents.backends.shared_prefix.prefill_shared` on this backend's model."""
        return prefill_shared(self.model, batch, mapping)

    def _decode(
        self,
        conversations: list[Conversation],
        batch: Any,
        settings: GenerationSettings,
        forced: list[Sequence[int] | None] | None,
        seed: int | None,
        mapping: list[int],
        cache: Any,
    ) -> list[Generation]:
        """Sample every row; ``batch`` holds the distinct prompts (row ``i`` is ``mapping[i]``).

        With ``cache`` (the gathered prefill), only the per-token inputs are expanded to the rows and
        generation continues from the cache (no vision input: the images are in the cache).
        """
        import torch
        from transformers import LogitsProcessorList, StoppingCriteriaList, SuppressTokensLogitsProcessor

        rows, length = batch["input_ids"].shape
        prompt_length = length
        if cache is None:
            inputs = dict(batch)
        else:
            index = torch.tensor(mapping, device=batch["input_ids"].device)
            inputs = {
                key: value[index]
                for key, value in batch.items()
                if isinstance(value, torch.Tensor) and value.dim() == 2 and tuple(value.shape) == (rows, length)
            }
            inputs["cache"] = cache
        recorder = SampledLogprobs(self.model, settings.logprob_temperature)
        processors: list[Any] = [recorder]
        if self.suppressed_token_ids:
            processors.append(SuppressTokensLogitsProcessor(self.suppressed_token_ids, device=self.device))
        limits = [settings.max_new_tokens] * len(conversations)
        criteria: list[Any] = []
        if forced is not None and any(s is not None for s in forced):
            processors.append(ForcedTokensLogitsProcessor(forced, prompt_length))
            limits = [limit if s is None else len(s) for limit, s in zip(limits, forced, strict=True)]
            criteria.append(RowLengthCriteria(limits, prompt_length))
        config = self._generation_config(replace(settings, max_new_tokens=max(limits)))
        try:
            with torch.inference_mode(), seeded(seed, self.device):
                output = self.model.generate(
                    **inputs,
                    generation_config=config,
                    logits_processor=LogitsProcessorList(processors),
                    stopping_criteria=StoppingCriteriaList(criteria),
                    synced_gpus=self.synced_gpus and LockstepGate.active(),  # one process: nothing to sync
                )
            logprobs = recorder.finish(output.sequences).cpu()
        finally:
            recorder.close()
        new_tokens = output.sequences[:, prompt_length:].cpu()
        prompt_ids = batch["input_ids"].cpu()
        mask = batch["attention_mask"].bool().cpu()
        grids = batch.get("image_grid_thw")
        grids = None if grids is None else grids.cpu().numpy()
        first: dict[int, int] = {}
        for row, source in enumerate(mapping):
            first.setdefault(source, row)
        counts = [len(conversation_images(conversations[first[source]])) for source in range(rows)]
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(int)
        stops = set(self.stop_token_ids)
        results = []
        for row in range(len(conversations)):
            source = mapping[row]
            ids = new_tokens[row, : limits[row]].tolist()
            end = next((i + 1 for i, t in enumerate(ids) if t in stops), None)
            finish = "stop" if end is not None else "length"
            ids = ids[: end if end is not None else len(ids)]
            text_ids = ids[:-1] if finish == "stop" else ids
            grid = None if grids is None else grids[offsets[source] : offsets[source + 1]]
            results.append(
                Generation(
                    text=self.tokenizer.decode(text_ids, skip_special_tokens=False, clean_up_tokenization_spaces=False),
                    token_ids=ids,
                    logprobs=logprobs[row, : len(ids)].tolist(),
                    prompt_ids=prompt_ids[source][mask[source]].tolist(),
                    image_grid_thw=None if grid is None else grid.copy(),
                    finish_reason=finish,
                )
            )
        return results

    def encode_completion(self, text: str) -> list[int]:
        """Ids a scripted turn ``text`` is forced as: its tokens, then the end-of-turn token."""
        end = _token_ids(self.tokenizer, ("<|im_end|>",)) or self.stop_token_ids[:1]
        return [*self.tokenizer.encode(text, add_special_tokens=False), *end]


def forward_logprobs(
    model: Any,
    inputs: dict[str, Any],
    completion_lengths: Sequence[int],
    temperature: float = 1.0,
) -> list[list[float]]:
    """Log-probs of the last ``completion_lengths[i]`` ids of each row of ``inputs["input_ids"]``.

    ``inputs`` are left-padded full sequences (prompt + completion) with their vision inputs, as
    :func:`agents.records.turn_model_inputs` builds them. One forward pass, no sampling.
    """
    import torch

    with torch.inference_mode():
        logits = model(**inputs).logits.float()
    ids = inputs["input_ids"]
    logps = torch.log_softmax(logits[:, :-1] / temperature, dim=-1).gather(2, ids[:, 1:, None]).squeeze(2)
    width = ids.shape[1] - 1
    return [logps[row, width - n :].cpu().tolist() for row, n in enumerate(completion_lengths)]


__all__ = [
    "STOP_TOKENS",
    "VISION_TOKENS",
    "ForcedTokensLogitsProcessor",
    "RowLengthCriteria",
    "SampledLogprobs",
    "SharingUnsupportedError",
    "TransformersBackend",
    "conversation_images",
    "conversation_videos",
    "forward_logprobs",
    "no_videos",
    "share_plan",
]
