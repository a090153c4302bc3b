"""vLLM server mode for the windowed GRPO trainer: config checks, clients, weight sync, importance sampling.

The trainer keeps TRL 1.16's machinery: with ``use_vllm=True, vllm_mode="server"`` TRL's
``GRPOTrainer.__init__`` builds ``VLLMGeneration`` (main process: a ``VLLMClient`` plus the NCCL
weight-transfer group). Here:

- :func:`vllm_settings_problems`: what the config must say for this trainer (server mode only, old
  log-probs from a forward pass, no scripted demo turns, no structured outputs);
- :func:`server_client`: the main process's TRL client, or an HTTP-only ``VLLMClient`` on the other
  ranks (each rank plays its own episodes, so each sends its own turns);
- :func:`sync_weights`: TRL's ``VLLMGeneration.sync_weights`` (ZeRO-3 gathers one parameter at a time
  on every rank, the main process streams it to the server) once per optimizer step, before the
  step's first generation round;
- :func:`importance_sampling_ratio`: TRL's ``vllm_importance_sampling_correction`` ratio between the
  forward-pass old log-probs and vLLM's sampling log-probs (``token_*`` / ``sequence_*`` modes, where a
  "sequence" is one row = one assistant turn), with TRL's metrics.

torch and TRL are imported inside the functions, so the config module stays light.
"""

from __future__ import annotations

import math
from typing import Any

#: Keys of TRL's ``GRPOConfig`` the windowed trainer reads in server mode.
SERVER_MODE = "server"
#: The extra loss-batch key TRL's ``_compute_loss`` reads when the correction is on.
IMPORTANCE_SAMPLING_KEY = "importance_sampling_ratio"


def vllm_settings_problems(config: Any) -> list[str]:
    """What is wrong with ``config``'s vLLM settings for the windowed trainer (empty when fine or off)."""
    if not getattr(config, "use_vllm", False):
        return []
    problems = []
    mode = getattr(config, "vllm_mode", None)
    if mode != SERVER_MODE:
        problems.append(
            f"vllm_mode={mode!r} is not supported by the windowed trainer: set vllm_mode='server' and run the "
            "server on its own GPU(s) (`trl vllm-serve --model ...`; see docs/grpo.md, 'vLLM server mode'); "
            "colocated vLLM would need vLLM in the training environment and a per-turn engine on every rank"
        )
    if getattr(config, "old_logps", None) != "forward":
        problems.append(
            "use_vllm=True needs old_logps='forward': vLLM's sampling log-probs are not the trainer's, so the "
            "ratio's old log-probs come from a forward pass and vLLM's enter only through the importance-sampling "
            "correction (vllm_importance_sampling_correction)"
        )
    if getattr(config, "demo_script_share", 0.0) > 0:
        problems.append(
            "demo_script_share > 0 forces scripted ids, which a vLLM server cannot do; use it without use_vllm"
        )
    if getattr(config, "vllm_structured_outputs_regex", None) is not None:
        problems.append("vllm_structured_outputs_regex is not used by the windowed trainer's rollouts; remove it")
    return problems


def server_client(trainer: Any) -> Any:
    """This rank's ``VLLMClient``: TRL's on the main process, a new HTTP-only one elsewhere (cached)."""
    client = getattr(getattr(trainer, "vllm_generation", None), "vllm_client", None)
    if client is not None:
        return client
    cached = getattr(trainer, "_vllm_http_client", None)
    if cached is not None:
        return cached
    from trl.generation.vllm_client import VLLMClient

    args = trainer.config
    base_url = args.vllm_server_base_url or f"http://{args.vllm_server_host}:{args.vllm_server_port}"
    client = VLLMClient(base_url=base_url, connection_timeout=args.vllm_server_timeout)
    trainer._vllm_http_client = client
    return client


def server_backend(trainer: Any) -> Any:
    """The rollouts' :class:`~agents.backends.vllm_server.VLLMServerBackend` for ``trainer`` (cached)."""
    backend = getattr(trainer, "_vllm_backend", None)
    if backend is None:
        from agents.backends.vllm_server import VLLMServerBackend

        args = trainer.config
        backend = VLLMServerBackend(
            server_client(trainer), trainer.processing_class, generation_kwargs=args.generation_kwargs
        )
        trainer._vllm_backend = backend
    return backend


def sync_weights(trainer: Any) -> bool:
    """Push the trainer's weights to the server (TRL's ``sync_weights``) unless this step's are there.

    Every rank must call it (ZeRO-3 gathers are collectives). Returns whether weights were pushed.
    """
    step = trainer.state.global_step
    if getattr(trainer, "_last_loaded_step", None) == step:
        return False
    trainer.vllm_generation.sync_weights()
    trainer._last_loaded_step = step
    return True


def importance_sampling_ratio(
    old_logps: Any,
    sampling_logps: Any,
    mask: Any,
    mode: str,
    clip_min: float | None,
    clip_max: float | None,
) -> tuple[Any, dict[str, Any]]:
    """TRL 1.16's vLLM importance-sampling ratio ``exp(old - sampling)`` and its per-rank statistics.

    ``mode``: ``token_truncate`` / ``token_mask`` (per token, shape (B, T)) or ``sequence_truncate`` /
    ``sequence_mask`` (summed over each row, shape (B, 1)); ``*_truncate`` clamps to
    [clip_min, clip_max], ``*_mask`` zeroes ratios outside it. NaN sampling log-probs count as no
    correction. Statistics (0-dim tensors, to be gathered): mean and max ``|old - sampling|`` over the
    masked tokens, and min / mean / max of the ratio.
    """
    import torch

    diff = torch.nan_to_num((old_logps - sampling_logps) * mask, nan=0.0)
    sequence_level = mode in ("sequence_mask", "sequence_truncate")
    ratio = torch.exp(diff.sum(dim=-1, keepdim=True) if sequence_level else diff)
    if mode in ("sequence_truncate", "token_truncate"):
        ratio = torch.clamp(ratio, min=clip_min, max=clip_max)
    elif mode in ("sequence_mask", "token_mask"):
        low = clip_min if clip_min is not None else -math.inf
        high = clip_max if clip_max is not None else math.inf
        ratio = ratio.masked_fill((ratio < low) | (ratio > high), 0.0)
    else:
        raise ValueError(
            f"unknown vllm_importance_sampling_mode {mode!r}; use token_truncate, token_mask, sequence_truncate "
            "or sequence_mask"
        )
    device = ratio.device
    bool_mask = mask.bool()
    delta = torch.abs(old_logps - sampling_logps)
    delta = delta[bool_mask & ~torch.isnan(delta)]
    flat = ratio.flatten() if sequence_level else ratio[bool_mask]
    zero = torch.tensor(0.0, device=device)
    stats = {
        "sampling_logp_difference/mean": delta.mean() if delta.numel() else zero,
        "sampling_logp_difference/max": delta.max() if delta.numel() else zero,
        "importance_sampling_ratio/min": flat.min() if flat.numel() else zero,
        "importance_sampling_ratio/mean": flat.mean() if flat.numel() else zero,
        "importance_sampling_ratio/max": flat.max() if flat.numel() else zero,
    }
    return ratio, stats


def add_importance_sampling(trainer: Any, batch: dict[str, Any], mode: str) -> None:
    """Put TRL's ``importance_sampling_ratio`` into ``batch`` and log TRL's ``sampling/*`` metrics."""
    mask = batch["completion_mask"] * batch["tool_mask"]
    ratio, stats = importance_sampling_ratio(
        batch["old_per_token_logps"],
        batch["sampling_per_token_logps"],
        mask,
        trainer.vllm_importance_sampling_mode,
        trainer.vllm_importance_sampling_clip_min,
        trainer.vllm_importance_sampling_clip_max,
    )
    batch[IMPORTANCE_SAMPLING_KEY] = ratio
    gather = trainer.accelerator.gather
    metrics = trainer._metrics[mode]
    for name, value in stats.items():
        gathered = gather(value.reshape(1).float())
        if name.endswith("/max"):
            reduced = gathered.max()
        elif name.endswith("/min"):
            reduced = gathered.min()
        else:
            reduced = gathered.nanmean()
        metrics[f"sampling/{name}"].append(float(reduced.item()))


__all__ = [
    "IMPORTANCE_SAMPLING_KEY",
    "add_importance_sampling",
    "importance_sampling_ratio",
    "server_backend",
    "server_client",
    "sync_weights",
    "vllm_settings_problems",
]
