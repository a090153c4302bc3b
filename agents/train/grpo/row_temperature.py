"""Each loss row at its own sampling temperature (the paper's 1.0 for the first turn, 0.9 after).

TRL 1.16 computes the loss's log-probs with a fused LM head (``add_fused_lm_head``) that divides the
logits of every row by one temperature ``t0`` (the config's ``temperature``). The rollout samples each
turn at its own temperature ``t_row`` and records ``log_softmax(logits / t_row)``. For a head without
bias or logit soft-capping (Qwen-VL), ``logits = h W^T`` is linear in the last hidden state ``h``, so
scaling ``h`` by ``t0 / t_row`` before the head gives ``(h W^T) / t_row`` exactly, gradients included.
:func:`row_temperatures` does this with a forward hook on the model's backbone while TRL's log-prob
helper runs; the helper may chunk the rows (``batch_size``), so the hook walks through the rows in
order and checks at the end that it saw every row once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


def _language_model(model: Any) -> Any:
    """The transformers model under PEFT / DDP / DeepSpeed wrappers (the one TRL patched)."""
    while hasattr(model, "module") and not hasattr(model, "get_output_embeddings"):
        model = model.module  # DDP, DeepSpeed engines
    if hasattr(model, "get_base_model"):  # PEFT
        model = model.get_base_model()
    return model


def row_temperature_problem(model: Any) -> str | None:
    """Why ``model``'s LM head cannot take per-row temperatures this way (``None`` when it can)."""
    inner = _language_model(model)
    head = inner.get_output_embeddings()
    if getattr(head, "bias", None) is not None:
        return "its LM head has a bias (the logits are not linear in the hidden state)"
    text_config = inner.config.get_text_config()
    if getattr(text_config, "final_logit_softcapping", None) is not None:
        return "it soft-caps its logits"
    if getattr(inner, "base_model", None) is None:
        return "it exposes no base_model backbone"
    return None


@contextlib.contextmanager
def row_temperatures(model: Any, temperatures: Any, loss_temperature: float) -> Iterator[None]:
    """While the block runs, rows of ``model``'s forward passes are scored at ``temperatures[i]``.

    ``temperatures``: a 1-D tensor, one per row of the batch the block scores (in order, possibly in
    chunks); ``loss_temperature``: the temperature TRL's fused head divides by. A no-op when every row
    is at ``loss_temperature``.
    """
    import torch

    factors = (loss_temperature / temperatures.double()).float()
    if torch.allclose(factors, torch.ones_like(factors)):
        yield
        return
    backbone = _language_model(model).base_model
    cursor = [0]

    def scale(module: Any, args: Any, output: Any) -> Any:
        hidden = output.last_hidden_state
        rows = hidden.shape[0]
        start = cursor[0]
        if start + rows > len(factors):
            raise RuntimeError(f"per-row temperatures: {start + rows} rows scored, {len(factors)} temperatures given")
        factor = factors[start : start + rows].to(device=hidden.device, dtype=hidden.dtype)
        output.last_hidden_state = hidden * factor[:, None, None]
        cursor[0] = start + rows
        return output

    handle = backbone.register_forward_hook(scale)
    try:
        yield
    finally:
        handle.remove()
    if cursor[0] != len(factors):
        raise RuntimeError(f"per-row temperatures: {len(factors)} given but {cursor[0]} rows scored")
