"""Logits processors and stopping criteria of the transformers backend's ``model.generate`` calls.

:class:`SampledLogprobs` records the log-probs of the sampled ids from the raw logits divided by the
sampling temperature (before any logits processor: the quantity a training forward pass
recomputes); :class:`ForcedTokensLogitsProcessor` scripts rows; :class:`RowLengthCriteria` gives each
row its own length limit; :func:`seeded` seeds torch for one block.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any


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
def seeded(seed: int | None, device: Any) -> Iterator[None]:
    """Seed torch's generators for the block only, restoring the caller's state afterwards."""
    import torch

    if seed is None:
        yield
        return
    devices = [device] if getattr(device, "type", "cpu") == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield
