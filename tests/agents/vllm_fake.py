"""A stand-in for TRL 1.16's ``VLLMClient`` (no network, no vLLM): scripted ids and log-probs, recorded calls.

Its ``image_features`` computes each image's token count with the same image processor a server
serving the same checkpoint would use (``token_scale`` != 1 imitates a server resizing to another
pixel budget). ``generate`` echoes the prompt ids and returns ``completion(prompt_ids, sampling_kwargs)`` ids
(cut at ``max_tokens``) with log-prob ``logprob`` each. ``update_named_params`` records every pushed tensor (TRL's weight sync).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np


class FakeVLLMClient:
    def __init__(
        self,
        processor: Any,
        completion: Callable[[list[int], dict[str, Any]], list[int]],
        *,
        logprob: float = -2.0,
        token_scale: int = 1,
        echo_offset: int = 0,
    ) -> None:
        self.processor = processor
        self.completion = completion
        self.logprob = logprob
        self.token_scale = token_scale
        self.echo_offset = echo_offset
        self.lock = threading.Lock()
        self.feature_calls: list[list[list[Any]]] = []
        self.generate_calls: list[dict[str, Any]] = []
        self.syncs: list[list[tuple[str, Any]]] = []
        self.sync_metadata: list[list[tuple[str, str, list[int]]]] = []
        self.prefix_resets = 0

    # ------------------------------------------------------------------ server info
    def get_server_info(self) -> dict[str, Any]:
        return {"model_config": {"logprobs_mode": "processed_logprobs"}, "weight_transfer_config": {"backend": "nccl"}}

    # ------------------------------------------------------------------ generation
    def image_features(self, images: list[list[Any] | None]) -> list[dict[str, Any] | None]:
        with self.lock:
            self.feature_calls.append([list(x or []) for x in images])
        merge = int(getattr(self.processor.image_processor, "merge_size", 2)) ** 2
        out: list[dict[str, Any] | None] = []
        for row in images:
            if not row:
                out.append(None)
                continue
            grids = self.processor.image_processor(images=list(row), return_tensors="np")["image_grid_thw"]
            lengths = [int(np.prod(g)) // merge * self.token_scale for g in grids]
            out.append(
                {
                    "mm_hashes": {"image": [f"h{i}" for i in range(len(row))]},
                    "mm_placeholders": {"image": [{"offset": 3 + i, "length": n} for i, n in enumerate(lengths)]},
                }
            )
        return out

    def generate(self, prompts: Sequence[list[int]], features: Any = None, **sampling: Any) -> dict[str, Any]:
        with self.lock:
            self.generate_calls.append({"prompts": [list(p) for p in prompts], "features": features, **sampling})
        limit = int(sampling.get("max_tokens", 16))
        completions = [self.completion(list(p), sampling)[:limit] for p in prompts]
        return {
            "prompt_ids": [list(p[self.echo_offset :]) for p in prompts],
            "completion_ids": completions,
            "logprobs": [[[self.logprob] for _ in c] for c in completions],
            "logprob_token_ids": [[[t] for t in c] for c in completions],
        }

    # ------------------------------------------------------------------ weight sync
    def update_named_params(
        self, metadata: list[tuple[str, str, list[int]]], named_params: Iterator[tuple[str, Any]]
    ) -> None:
        self.sync_metadata.append(list(metadata))
        self.syncs.append([(name, tensor.detach().clone()) for name, tensor in named_params])

    def reset_prefix_cache(self) -> None:
        self.prefix_resets += 1
