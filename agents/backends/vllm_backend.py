"""Generation with vLLM's offline engine (GPU; optional dependency, imported lazily).

Prompts are rendered with the model's Hugging Face processor chat template (the same text the
transformers backend feeds) and passed to ``vllm.LLM.generate`` as
``{"prompt": text, "multi_modal_data": {"image": [PIL images]}}``; vLLM expands the image
placeholders. Per-token log-probabilities of the sampled ids come back with ``SamplingParams(logprobs=0)``;
the engine is created with ``logprobs_mode="processed_logprobs"`` so they are taken after the
temperature (``log_softmax(logits / T)``), like the transformers backend's.

vLLM pins its own torch and transformers (vLLM 0.31: transformers < 5.18, torch 2.13), so it runs in a
separate environment from training: ``pip install vllm`` there, then use this backend in-process, or
start ``vllm serve MODEL --limit-mm-per-prompt '{"image": 16}'`` and use
:class:`agents.backends.openai_http.OpenAIChatBackend` from this environment.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agents.backends.base import BackendUnavailableError, Conversation, Generation, GenerationSettings
from agents.backends.conversation_media import conversation_images, no_videos
from agents.backends.transformers_backend import VISION_TOKENS


def _import_vllm() -> Any:
    try:
        import vllm
    except ImportError as error:
        raise BackendUnavailableError(
            "the vLLM backend needs the optional 'vllm' package (GPU, its own environment: "
            "pip install vllm); or serve the model with `vllm serve` and use backend='openai'"
        ) from error
    return vllm


class VLLMBackend:
    """:class:`~agents.backends.base.GenerationBackend` over ``vllm.LLM``.

    ``model`` is a local folder or hub id; ``max_images`` sets ``limit_mm_per_prompt`` (N_in + p * N_ex
    = 16 with the paper's settings); other keyword arguments go to ``vllm.LLM`` (``dtype``,
    ``gpu_memory_utilization``, ``max_model_len``, ``tensor_parallel_size``...). ``llm`` and
    ``processor`` may be passed ready-made (tests, or sharing one engine).
    """

    def __init__(
        self,
        model: str,
        *,
        max_images: int = 16,
        llm: Any | None = None,
        processor: Any | None = None,
        **llm_kwargs: Any,
    ) -> None:
        self.vllm = _import_vllm()
        if processor is None:
            from transformers import AutoProcessor

            processor = AutoProcessor.from_pretrained(model)
        self.processor = processor
        if llm is None:
            llm_kwargs.setdefault("limit_mm_per_prompt", {"image": max_images})
            llm_kwargs.setdefault("logprobs_mode", "processed_logprobs")
            llm = self.vllm.LLM(model=model, **llm_kwargs)
        self.llm = llm
        tokenizer = getattr(processor, "tokenizer", processor)
        vocab = tokenizer.get_vocab()
        self.suppressed_token_ids = [vocab[t] for t in VISION_TOKENS if t in vocab]

    def sampling_params(self, settings: GenerationSettings) -> Any:
        """``vllm.SamplingParams`` for ``settings`` (greedy: temperature 0)."""
        params: dict[str, Any] = {
            "max_tokens": settings.max_new_tokens,
            "logprobs": 0,
            "repetition_penalty": 1.0,
            "seed": settings.seed,
            "skip_special_tokens": False,
        }
        if self.suppressed_token_ids:
            params["logit_bias"] = {t: -100.0 for t in self.suppressed_token_ids}
        if settings.do_sample:
            params.update(temperature=settings.temperature, top_p=settings.top_p, top_k=settings.top_k or -1)
        else:
            params.update(temperature=0.0)
        return self.vllm.SamplingParams(**params)

    def requests(self, conversations: Sequence[Conversation]) -> list[dict[str, Any]]:
        """vLLM prompt dicts: chat-template text plus the conversation's images."""
        out = []
        for conversation in conversations:
            no_videos(conversation, "vLLM")
            text = self.processor.apply_chat_template(list(conversation), tokenize=False, add_generation_prompt=True)
            images = conversation_images(conversation)
            request: dict[str, Any] = {"prompt": text}
            if images:
                request["multi_modal_data"] = {"image": images}
            out.append(request)
        return out

    def generate(self, conversations: Sequence[Conversation], settings: GenerationSettings) -> list[Generation]:
        # One seed per row: identical prompts (a GRPO group) must not get identical samples.
        params = [
            self.sampling_params(settings if settings.seed is None else settings.with_seed(settings.seed + i))
            for i in range(len(conversations))
        ]
        outputs = self.llm.generate(self.requests(conversations), params, use_tqdm=False)
        results = []
        for output in outputs:
            completion = output.outputs[0]
            ids = list(completion.token_ids)
            logprobs = None
            if completion.logprobs is not None:
                logprobs = [float(step[token].logprob) for step, token in zip(completion.logprobs, ids, strict=True)]
            prompt_ids = output.prompt_token_ids
            results.append(
                Generation(
                    text=completion.text,
                    token_ids=ids,
                    logprobs=logprobs,
                    prompt_ids=None if prompt_ids is None else list(prompt_ids),
                    finish_reason="stop" if completion.finish_reason == "stop" else "length",
                )
            )
        return results
