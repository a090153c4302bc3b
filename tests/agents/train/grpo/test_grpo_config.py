"""Settings refused (or resolved) when the GRPO config is built, not halfway through a run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agents.train.grpo.config import WindowedGRPOConfig
from agents.train.grpo.launch_checks import checkpoint_cycle_problem


def _config(tmp_path: Path, **overrides: Any) -> WindowedGRPOConfig:
    return WindowedGRPOConfig(output_dir=str(tmp_path), use_cpu=True, report_to=[], **overrides)


def test_sampling_log_probs_are_refused_in_half_precision(tmp_path: Path) -> None:
    for precision in ({"bf16": True}, {"bf16": False, "fp16": True}):
        with pytest.raises(ValueError, match=r"old_logps='sampling' with (bf16|fp16)"):
            _config(tmp_path, old_logps="sampling", **precision)
    assert _config(tmp_path, bf16=True).old_logps == "forward"  # auto: a forward pass in half precision
    assert _config(tmp_path).old_logps == "sampling"  # bf16 left unset is off on a CPU: float32
    assert _config(tmp_path, bf16=False).old_logps == "sampling"  # auto: the rollout's own in float32
    assert _config(tmp_path, bf16=True, old_logps="forward").old_logps == "forward"


def test_a_half_precision_model_with_sampling_log_probs_is_refused(tiny_model_dir: Path, tmp_path: Path) -> None:
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from agents.train.grpo import WindowedGRPOTrainer

    model = AutoModelForImageTextToText.from_pretrained(str(tiny_model_dir), dtype=torch.bfloat16)
    processor = AutoProcessor.from_pretrained(str(tiny_model_dir))
    args = _config(tmp_path, bf16=False, old_logps="sampling", env_kwargs={"frames_per_video": 16})
    with pytest.raises(ValueError, match=r"old_logps='sampling' with a torch.bfloat16 model"):
        WindowedGRPOTrainer(model, args, processor)


def test_sampling_log_probs_force_dropout_off(tmp_path: Path) -> None:
    assert _config(tmp_path, bf16=False, old_logps="sampling", disable_dropout=False).disable_dropout
    assert not _config(tmp_path, bf16=True, old_logps="forward", disable_dropout=False).disable_dropout


def test_fsdp_is_refused_naming_the_supported_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="FSDP is not supported") as error:
        _config(tmp_path, bf16=False, fsdp="full_shard")
    assert "ZeRO-3" in str(error.value) and "vLLM server" in str(error.value)
    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")  # `accelerate launch` with an FSDP config
    with pytest.raises(ValueError, match="ACCELERATE_USE_FSDP"):
        _config(tmp_path, bf16=False)


def test_video_initial_frames_are_refused_when_the_config_is_built(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="initial_frames_input='video'"):
        _config(tmp_path, bf16=False, env_kwargs={"initial_frames_input": "video"})
    assert _config(tmp_path, bf16=False, env_kwargs='{"initial_frames_input": "images"}').env_kwargs


@pytest.mark.parametrize(
    ("schedule", "refused", "allowed"),
    [
        ({"steps_per_generation": 2}, 1, 2),
        ({"num_iterations": 2}, 3, 4),
        ({"steps_per_generation": 256, "gradient_accumulation_steps": 64}, 25, 24),  # docs/train-scale.md's schedule
        ({"steps_per_generation": 2, "gradient_accumulation_steps": 4}, None, 1),  # several generations per step
    ],
)
def test_checkpoints_must_land_on_generation_cycle_boundaries(
    tmp_path: Path, schedule: dict[str, int], refused: int | None, allowed: int
) -> None:
    if refused is not None:
        with pytest.raises(ValueError, match=f"save_steps={refused} would checkpoint inside a generation cycle"):
            _config(tmp_path, bf16=False, save_steps=refused, **schedule)
    assert checkpoint_cycle_problem(_config(tmp_path, bf16=False, save_steps=allowed, **schedule)) is None
    assert _config(tmp_path, bf16=False, save_strategy="no", save_steps=3, **schedule)  # no checkpoints: no check
    with pytest.raises(ValueError, match="use a multiple of 2"):
        _config(tmp_path, bf16=False, steps_per_generation=2, save_steps=0.3, max_steps=10)  # 0.3 x 10 = 3


def test_precision_left_unset_is_float32_on_a_cpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """TRL turns bf16 on when unset; a CPU run (use_cpu, or no CUDA) keeps float32 unless bf16 is asked for."""
    import torch

    assert _config(tmp_path).bf16 is False
    assert _config(tmp_path, bf16=True).bf16 is True  # asked for: kept (mixed precision over float32 weights)
    assert _config(tmp_path, fp16=False, bf16=None).bf16 is False
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert WindowedGRPOConfig(output_dir=str(tmp_path), report_to=[]).bf16 is False  # no GPU, use_cpu unset


def test_the_policy_is_loaded_in_float32_unless_model_init_kwargs_say_otherwise(tmp_path: Path) -> None:
    """Loading the weights in bf16 would round a float32 checkpoint (and small AdamW updates) away."""
    import torch

    from agents.train.grpo.run import policy_dtype

    assert policy_dtype(_config(tmp_path, bf16=True, old_logps="forward")) is torch.float32
    assert policy_dtype(_config(tmp_path, model_init_kwargs={"dtype": "bfloat16"})) is torch.bfloat16
    assert policy_dtype(_config(tmp_path, model_init_kwargs={"dtype": torch.float16})) is torch.float16
    assert policy_dtype(_config(tmp_path, model_init_kwargs={"dtype": "auto"})) == "auto"
