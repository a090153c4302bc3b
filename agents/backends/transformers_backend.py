"""Batched generation with a transformers image-text-to-text model (CPU or GPU).

Prompts are rendered with the processor's chat template and left-padded; ``model.generate`` stops
each row at its end-of-turn token. Log-probabilities of the sampled ids are taken from the model's
raw logits divided by the sampling temperature (captured with a forward hook on the output
embedding, before any logits processor): the quantity a training forward pass recomputes.

Shared prefix: rows of one call whose rendered prompt and images are identical (the first turn of
the G episodes of a GRPO group) are prefilled once. The distinct prompts of the call are prefilled
as one batch (all but their last token, images encoded once), the KV cache and the multimodal rope
deltas are gathered to the call's rows, and ``model.generate`` continues from that cache on the
full left-padded batch: same ids, padding, sampling order and logits processors as without sharing.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from agents.backends.base import Conversation, Generation, GenerationSettings

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


def conversation_images(conversation: Conversation) -> list[Any]:
    """The image payloads of a conversation, in the order the chat template places them."""
    images: list[Any] = []
    for message in conversation:
        content = message.get("content")
        if isinstance(content, list):
            images.extend(block["image"] for block in content if block.get("type") == "image")
    return images


def conversation_videos(conversation: Conversation) -> list[list[Any]]:
    """The video payloads (each a list of frames) of a conversation, in order.

    Video blocks appear when the env renders the initial frames as one video input
    (``EnvConfig.initial_frames_input = "video"``); a video's frames must share one size.
    """
    videos: list[list[Any]] = []
    for message in conversation:
        content = message.get("content")
        if isinstance(content, list):
            videos.extend(list(block["video"]) for block in content if block.get("type") == "video")
    for frames in videos:
        sizes = {tuple(np.asarray(frame).shape[:2]) for frame in frames}
        if len(sizes) > 1:
            raise ValueError(
                f"a video input's frames differ in size {sorted(sizes)}: the two videos of this pair have different "
                "resolutions; use initial_frames_input='images' for this dataset"
            )
    return videos


def no_videos(conversation: Conversation, backend: str) -> None:
    """Raise a clear error for a video block a backend cannot send."""
    if conversation_videos(conversation):
        raise ValueError(f"the {backend} backend sends images only; set initial_frames_input='images'")


def _token_ids(tokenizer: Any, tokens: Sequence[str]) -> list[int]:
    """Ids of those ``tokens`` the tokenizer knows as single tokens."""
    vocab = tokenizer.get_vocab()
    return [vocab[t] for t in tokens if t in vocab]


def _feed_payload(digest: Any, payload: Any) -> bool:
    """Add one image (or video frame) payload's content to ``digest``; ``False`` if its kind is unknown."""
    from PIL import Image

    if isinstance(payload, Image.Image):
        digest.update(f"pil:{payload.mode}:{payload.size}".encode())
        digest.update(payload.tobytes())
    elif isinstance(payload, np.ndarray):
        array = np.ascontiguousarray(payload)
        digest.update(f"array:{array.dtype}:{array.shape}".encode())
        digest.update(array.tobytes())
    elif isinstance(payload, (str, Path)):
        digest.update(f"ref:{payload}".encode())
    elif hasattr(payload, "detach") and hasattr(payload, "numpy"):  # a torch tensor
        return _feed_payload(digest, payload.detach().cpu().numpy())
    else:
        return False
    return True


def prompt_key(text: str, conversation: Conversation) -> bytes | None:
    """Digest of a rendered prompt and its image / video payloads (``None``: a payload it cannot hash).

    Two rows with the same key get the same model inputs from the processor: the shared-prefix path
    prefills them once.
    """
    digest = hashlib.blake2b(text.encode(), digest_size=20)
    for image in conversation_images(conversation):
        if not _feed_payload(digest, image):
            return None
    for video in conversation_videos(conversation):
        digest.update(f"video:{len(video)}".encode())
        for frame in video:
            if not _feed_payload(digest, frame):
                return None
    return digest.digest()


def share_plan(texts: Sequence[str], conversations: Sequence[Conversation]) -> tuple[list[int], list[int]] | None:
    """``(unique_rows, row_to_unique)`` when some rows of a call repeat another's prompt, else ``None``.

    ``unique_rows[j]`` is the first row with the ``j``-th distinct prompt; ``row_to_unique[i]`` the
    distinct prompt of row ``i``. Rows whose payloads cannot be hashed stay on their own.
    """
    seen: dict[bytes, int] = {}
    unique_rows: list[int] = []
    mapping: list[int] = []
    for row, (text, conversation) in enumerate(zip(texts, conversations, strict=True)):
        key = prompt_key(text, conversation)
        if key is None or key not in seen:
            if key is not None:
                seen[key] = len(unique_rows)
            mapping.append(len(unique_rows))
            unique_rows.append(row)
        else:
            mapping.append(seen[key])
    return None if len(unique_rows) == len(mapping) else (unique_rows, mapping)


class SharingUnsupportedError(RuntimeError):
    """The model cannot continue generation from a gathered KV cache (the plain path is used)."""


class SampledLogprobs:
    """Logits processor recording ``log_softmax(raw_logits / T)`` of each sampled token.

    A forward hook on the model's output embedding keeps the raw last-position logits; at each
    decoding step the processor gathers the previous step's distribution at the token just appended
    to ``input_ids``; :meth:`finish` gathers the last step. It never changes the scores.
    """

    def __init__(self, model: Any, temperature: float) -> None:
        self.temperature = temperature
        self._raw: Any = None
        self._pending: Any = None
        self.steps: list[Any] = []
        self._handle = model.get_output_embeddings().register_forward_hook(self._hook)

    def _hook(self, module: Any, args: Any, output: Any) -> None:
        self._raw = output[:, -1].float()

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        if self._pending is not None:
            self.steps.append(self._pending.gather(1, input_ids[:, -1:]).squeeze(1))
        self._pending = torch.log_softmax(self._raw / self.temperature, dim=-1)
        return scores

    def finish(self, sequences: Any) -> Any:
        """``(batch, new_tokens)`` log-probs; detaches the hook."""
        import torch

        self._handle.remove()
        if self._pending is not None:
            self.steps.append(self._pending.gather(1, sequences[:, -1:]).squeeze(1))
            self._pending = None
        if not self.steps:
            return torch.zeros((sequences.shape[0], 0))
        return torch.stack(self.steps, dim=1)

    def close(self) -> None:
        self._handle.remove()


class ForcedTokensLogitsProcessor:
    """Forces row ``i`` to emit ``sequences[i]`` (``None`` = free). For scripted turns and tests.

    Only the choice is forced: the model's forward pass (and so the recorded log-probs) stays real.
    """

    def __init__(self, sequences: Sequence[Sequence[int] | None], prompt_length: int) -> None:
        self.sequences = [None if s is None else list(s) for s in sequences]
        self.prompt_length = prompt_length

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        step = input_ids.shape[1] - self.prompt_length
        forced = scores
        for row, sequence in enumerate(self.sequences):
            if sequence is not None and step < len(sequence):
                if forced is scores:
                    forced = scores.clone()
                forced[row] = float("-inf")
                forced[row, sequence[step]] = 0.0
        return forced


class RowLengthCriteria:
    """Stops row ``i`` after ``limits[i]`` new tokens (per-row ``max_new_tokens``)."""

    def __init__(self, limits: Sequence[int], prompt_length: int) -> None:
        self.limits = list(limits)
        self.prompt_length = prompt_length

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        limits = torch.tensor(self.limits, device=input_ids.device)
        return (input_ids.shape[1] - self.prompt_length) >= limits


@contextlib.contextmanager
def _seeded(seed: int | None, device: Any) -> Iterator[None]:
    """Seed torch's generators for the block only, restoring the caller's state afterwards."""
    import torch

    if seed is None:
        yield
        return
    devices = [device] if getattr(device, "type", "cpu") == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


class TransformersBackend:
    """:class:`~agents.backends.base.GenerationBackend` over a transformers model and its processor.

    ``max_batch_size`` splits large batches into chunks (``None``: one chunk). ``share_prefix``
    (default on) prefills the identical prompts of a chunk once and continues every row from the
    gathered KV cache (see the module docstring); results are those of the plain path. A model
    that cannot continue from a gathered cache falls back to the plain path:
    ``share_prefix_disabled`` then holds the reason. ``prefill_stats`` counts rows generated, prompts
    prefilled and calls that shared a prefill, over the backend's life.
    """

    def __init__(
        self, model: Any, processor: Any, *, max_batch_size: int | None = None, share_prefix: bool = True
    ) -> None:
        self.model = model
        self.processor = processor
        self.tokenizer = getattr(processor, "tokenizer", processor)
        self.max_batch_size = max_batch_size
        self.share_prefix = share_prefix
        self.share_prefix_disabled: str | None = None
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

    def _generate_chunk(
        self,
        conversations: list[Conversation],
        settings: GenerationSettings,
        forced: list[Sequence[int] | None] | None,
        seed: int | None,
    ) -> list[Generation]:
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
        """Prefill the distinct prompts of ``batch`` but their last token; the cache gathered to ``mapping``.

        Positions are those ``model.generate`` computes for the full prompts (3D rope for Qwen-VL);
        the model's stored rope deltas are gathered to the rows too, so the decoding steps continue
        each row at its own positions. Raises :class:`SharingUnsupportedError` where the model's
        cache or position handling is not the one this relies on.
        """
        import inspect

        import torch
        from transformers import DynamicCache
        from transformers.cache_utils import DynamicLayer

        ids = batch["input_ids"]
        rows, length = ids.shape
        if length < 2:
            raise SharingUnsupportedError("a one-token prompt has nothing to share")
        parameters = inspect.signature(self.model.forward).parameters
        if "cache" not in parameters:
            raise SharingUnsupportedError("its forward takes no `cache` argument")
        prepare = getattr(self.model, "_prepare_position_ids_for_generation", None)
        if prepare is None:
            raise SharingUnsupportedError("it has no _prepare_position_ids_for_generation")
        per_token = {
            key: value[:, : length - 1]
            for key, value in batch.items()
            if isinstance(value, torch.Tensor) and value.dim() == 2 and tuple(value.shape) == (rows, length)
        }
        inputs = {**{k: v for k, v in batch.items() if k not in per_token}, **per_token}
        inner = getattr(self.model, "model", None)
        if inner is not None and hasattr(inner, "rope_deltas"):
            inner.rope_deltas = None  # computed afresh for these prompts, as generate does
        with torch.inference_mode():
            position_ids = prepare(per_token["input_ids"], dict(inputs))
            output = self.model(**inputs, position_ids=position_ids, use_cache=True, logits_to_keep=1)
        cache = getattr(output, "cache", None)
        if not isinstance(cache, DynamicCache) or any(type(layer) is not DynamicLayer for layer in cache.layers):
            raise SharingUnsupportedError(f"its prefill cache is a {type(cache).__name__}, not a plain DynamicCache")
        if cache.get_seq_length() != length - 1:
            raise SharingUnsupportedError("its prefill cache does not hold the prompt")
        index = torch.tensor(list(mapping), device=ids.device)
        cache.batch_select_indices(index)
        if inner is not None and hasattr(inner, "rope_deltas"):
            deltas = inner.rope_deltas
            if not isinstance(deltas, torch.Tensor) or deltas.shape[0] != rows:
                raise SharingUnsupportedError("its rope deltas are not one per prompt")
            inner.rope_deltas = deltas[index.to(deltas.device)]
        return cache

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
            with torch.inference_mode(), _seeded(seed, self.device):
                output = self.model.generate(
                    **inputs,
                    generation_config=config,
                    logits_processor=LogitsProcessorList(processors),
                    stopping_criteria=StoppingCriteriaList(criteria),
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
