"""Generation on a vLLM server through TRL 1.16's ``VLLMClient``, from prompt ids rendered here.

The server must sample from exactly the context the trainer will compute its loss on. So the prompt
is rendered and tokenized HERE with the trainer's own processor (the same call the transformers
backend makes: image placeholders expanded to one ``<|image_pad|>`` per vision token), and sent to the
server as token ids. The images travel separately: ``VLLMClient.image_features`` (one request per
prompt, any number of images, exact PNG bytes) turns them into server-side features, which are then
pointed at this prompt's runs of image tokens (TRL's ``VLLMGeneration._place_features`` rule) and paired
with the ids in ``VLLMClient.generate(prompts=ids, features=...)``. This is TRL's own multimodal
server path; the chat endpoint (``VLLMClient.chat``, ``agents.backends.openai_http``) would let the
server render the template itself, so its prompt ids could differ from the trainer's rendering.

Checks that fail loudly (``VLLMPromptMismatchError``): the server's echoed prompt ids differ from the
ids sent; the number of image-token runs differs from the number of images; a run's length differs
from the number of tokens the server computed for that image (the server's image processor resizes
to another pixel budget than the trainer's).

Not run against a real vLLM server here (no GPU, vLLM not installed); tested with a stand-in client.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from agents.backends.base import Conversation, Generation, GenerationSettings
from agents.backends.conversation_media import conversation_images, no_videos
from agents.backends.transformers_backend import STOP_TOKENS, VISION_TOKENS


class VLLMPromptMismatchError(ValueError):
    """The server would sample from a context other than the one the trainer renders."""


def image_token_runs(ids: Sequence[int], image_token_id: int) -> list[dict[str, int]]:
    """``[{"offset", "length"}]`` of each run of ``image_token_id`` in ``ids`` (one run per image)."""
    runs: list[dict[str, int]] = []
    i = 0
    while i < len(ids):
        if ids[i] == image_token_id:
            start = i
            while i < len(ids) and ids[i] == image_token_id:
                i += 1
            runs.append({"offset": start, "length": i - start})
        else:
            i += 1
    return runs


def place_features(features: dict[str, Any] | None, ids: Sequence[int], image_token_id: int) -> dict[str, Any] | None:
    """Point the server's image ``features`` at the image-token runs of ``ids`` (TRL's rule), checked.

    Raises :class:`VLLMPromptMismatchError` when the runs and the server's images disagree in number or
    in tokens per image.
    """
    runs = image_token_runs(ids, image_token_id)
    if features is None:
        if runs:
            raise VLLMPromptMismatchError(f"the prompt has {len(runs)} image-token runs but no image features")
        return None
    server = list(features.get("mm_placeholders", {}).get("image", []))
    if len(runs) != len(server):
        raise VLLMPromptMismatchError(
            f"the prompt rendered by the trainer's processor has {len(runs)} runs of image tokens but the server "
            f"processed {len(server)} images; the prompt must contain one run of image tokens per image"
        )
    for index, (run, theirs) in enumerate(zip(runs, server, strict=True)):
        length = theirs.get("length") if isinstance(theirs, dict) else None
        if length is not None and int(length) != run["length"]:
            raise VLLMPromptMismatchError(
                f"image {index}: the trainer's processor gives it {run['length']} image tokens, the server's "
                f"{length}; serve the same checkpoint (its preprocessor_config.json: min_pixels / max_pixels) "
                "that the trainer loads, so both resize images to the same pixel budget"
            )
    return {**features, "mm_placeholders": {**features.get("mm_placeholders", {}), "image": runs}}


def _pil(image: Any) -> Any:
    from PIL import Image

    if isinstance(image, np.ndarray):
        return Image.fromarray(np.ascontiguousarray(image))
    return image


def _token_ids(tokenizer: Any, tokens: Sequence[str]) -> list[int]:
    vocab = tokenizer.get_vocab()
    return [vocab[t] for t in tokens if t in vocab]


class VLLMServerBackend:
    """:class:`~agents.backends.base.GenerationBackend` over a TRL ``VLLMClient`` (``vllm serve`` / ``trl vllm-serve``).

    ``client``: a ``trl.generation.vllm_client.VLLMClient`` (or any object with its ``image_features``
    and ``generate`` methods); ``processor``: the TRAINER's processor (prompt ids and image grids come
    from it). Rows are sent concurrently, one request each (``max_workers``), each with its own seed
    (``settings.seed + row``) so identical prompts of a group get different samples. Vision tokens are
    banned through ``logit_bias`` (a judge must not write image placeholders); the end-of-turn tokens are
    ``stop_token_ids``. ``generation_kwargs`` go into every request's sampling parameters.
    """

    def __init__(
        self,
        client: Any,
        processor: Any,
        *,
        max_workers: int = 16,
        generation_kwargs: dict[str, Any] | None = None,
    ) -> None:
        self.client = client
        self.processor = processor
        self.tokenizer = getattr(processor, "tokenizer", processor)
        self.max_workers = max_workers
        self.generation_kwargs = dict(generation_kwargs or {})
        self.stop_token_ids: list[int] = _token_ids(self.tokenizer, STOP_TOKENS)
        if not self.stop_token_ids and self.tokenizer.eos_token_id is not None:
            self.stop_token_ids = [int(self.tokenizer.eos_token_id)]
        self.suppressed_token_ids = _token_ids(self.tokenizer, VISION_TOKENS)
        image_token = getattr(processor, "image_token_id", None)
        self.image_token_id: int = int(
            image_token if image_token is not None else self.tokenizer.convert_tokens_to_ids("<|image_pad|>")
        )

    def encode(self, conversation: Conversation) -> tuple[list[int], np.ndarray | None, list[Any]]:
        """Prompt ids, image grids and images of one conversation, rendered by the trainer's processor."""
        no_videos(conversation, "vLLM server")
        text = self.processor.apply_chat_template(list(conversation), tokenize=False, add_generation_prompt=True)
        images = conversation_images(conversation)
        batch = self.processor(text=[text], images=images or None, return_tensors="pt")
        grid = batch.get("image_grid_thw")
        return batch["input_ids"][0].tolist(), None if grid is None else grid.cpu().numpy(), images

    def sampling(self, settings: GenerationSettings, seed: int | None) -> dict[str, Any]:
        """Keyword arguments of ``VLLMClient.generate`` for one row."""
        extra: dict[str, Any] = {"stop_token_ids": list(self.stop_token_ids), **self.generation_kwargs}
        if self.suppressed_token_ids:
            extra["logit_bias"] = {str(t): -100.0 for t in self.suppressed_token_ids}
        if seed is not None:
            extra["seed"] = seed
        if settings.do_sample:
            sampling = {"temperature": settings.temperature, "top_p": settings.top_p, "top_k": settings.top_k or 0}
        else:
            sampling = {"temperature": 0.0, "top_p": 1.0, "top_k": 0}
        return {
            "n": 1,
            "repetition_penalty": 1.0,
            "min_p": 0.0,
            "max_tokens": settings.max_new_tokens,
            "logprobs": 0,
            "generation_kwargs": extra,
            **sampling,
        }

    def _one(self, conversation: Conversation, settings: GenerationSettings, seed: int | None) -> Generation:
        ids, grid, images = self.encode(conversation)
        features = None
        if images:
            (raw,) = self.client.image_features([[_pil(image) for image in images]])
            features = [place_features(raw, ids, self.image_token_id)]
        elif image_token_runs(ids, self.image_token_id):
            raise VLLMPromptMismatchError("the prompt has image tokens but the conversation carries no image")
        output = self.client.generate(prompts=[ids], features=features, **self.sampling(settings, seed))
        echoed = list(output["prompt_ids"][0])
        if echoed != ids:
            first = next(
                (i for i, (a, b) in enumerate(zip(echoed, ids, strict=False)) if a != b), min(len(echoed), len(ids))
            )
            raise VLLMPromptMismatchError(
                f"the server generated from other prompt ids than the trainer rendered ({len(echoed)} vs {len(ids)} "
                f"ids, first difference at position {first})"
            )
        completion = [int(t) for t in output["completion_ids"][0]]
        logprobs = _sampled_logprobs(completion, output.get("logprobs"), output.get("logprob_token_ids"))
        stops = set(self.stop_token_ids)
        end = next((i + 1 for i, t in enumerate(completion) if t in stops), None)
        if end is not None:
            completion, logprobs = completion[:end], logprobs[:end]
            finish = "stop"
        elif len(completion) >= settings.max_new_tokens:
            finish = "length"
        else:
            raise VLLMPromptMismatchError(
                f"the server ended a completion after {len(completion)} of {settings.max_new_tokens} tokens without "
                f"an end-of-turn token {sorted(stops)}: its stop rule differs from the trainer's"
            )
        text_ids = completion[:-1] if finish == "stop" else completion
        return Generation(
            text=self.tokenizer.decode(text_ids, skip_special_tokens=False, clean_up_tokenization_spaces=False),
            token_ids=completion,
            logprobs=logprobs,
            prompt_ids=ids,
            image_grid_thw=grid,
            finish_reason=finish,
        )

    def generate(self, conversations: Sequence[Conversation], settings: GenerationSettings) -> list[Generation]:
        rows = [(c, None if settings.seed is None else settings.seed + i) for i, c in enumerate(conversations)]
        if len(rows) <= 1 or self.max_workers <= 1:
            return [self._one(c, settings, s) for c, s in rows]
        with ThreadPoolExecutor(max_workers=min(self.max_workers, len(rows))) as pool:
            return list(pool.map(lambda row: self._one(row[0], settings, row[1]), rows))


def _sampled_logprobs(ids: Sequence[int], logprobs: Any, token_ids: Any) -> list[float]:
    """The log-prob of each sampled id (NaN where the server gave none: TRL then leaves the token uncorrected)."""
    if logprobs is None:
        return [math.nan] * len(ids)
    row, row_ids = logprobs[0], (token_ids[0] if token_ids is not None else None)
    out: list[float] = []
    for position, token in enumerate(ids):
        values = row[position] if position < len(row) else []
        candidates = row_ids[position] if row_ids is not None and position < len(row_ids) else [token] * len(values)
        value = next((v for v, t in zip(values, candidates, strict=False) if int(t) == token), None)
        out.append(math.nan if value is None else float(value))
    return out


__all__ = ["VLLMPromptMismatchError", "VLLMServerBackend", "image_token_runs", "place_features"]
