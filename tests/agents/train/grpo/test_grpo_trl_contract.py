"""Contract with the private TRL 1.16 hooks the windowed trainer overrides or calls.

An upgrade that renames, re-signs or re-keys any of them fails here, loudly, instead of training on a
silently different batch.
"""

from __future__ import annotations

import inspect
import re

import torch
import trl
from trl import GRPOTrainer
from trl.trainer import utils as trl_utils

from agents.train.grpo import LOSS_BATCH_KEYS, WindowedGRPOTrainer


def _source(name: str) -> str:
    return inspect.getsource(getattr(GRPOTrainer, name))


def test_trl_is_the_pinned_minor_version() -> None:
    assert trl.__version__.startswith("1.16."), (
        f"re-check the GRPO hooks before moving off TRL 1.16 ({trl.__version__})"
    )


def test_the_overridden_hook_keeps_its_signature_and_call_site() -> None:
    params = list(inspect.signature(GRPOTrainer._generate_and_score_completions).parameters)
    assert params == ["self", "inputs"]
    ours = list(inspect.signature(WindowedGRPOTrainer._generate_and_score_completions).parameters)
    assert ours == params
    prepare = _source("_prepare_inputs")
    assert "self._generate_and_score_completions(generation_batch)" in prepare
    assert "split_tensor_dict(generation_batch, self.args.steps_per_generation)" in prepare
    assert "shuffle_sequence_dict" in prepare and "split_pixel_values_by_grid" in prepare


def test_the_per_token_logps_helper_takes_what_we_pass() -> None:
    params = inspect.signature(GRPOTrainer._get_per_token_logps_and_entropies).parameters
    for name in (
        "model", "input_ids", "attention_mask", "logits_to_keep", "batch_size", "compute_entropy",
        "pixel_values", "image_grid_thw", "num_images", "mm_token_type_ids",
    ):  # fmt: skip
        assert name in params, name


def test_the_loss_reads_only_keys_we_provide() -> None:
    source = _source("_compute_loss")
    required = set(re.findall(r'inputs\["(\w+)"\]', source))
    optional = set(re.findall(r'inputs\.get\("(\w+)"', source))
    # Required keys: ours, or ones only read on paths our config rejects (vLLM, beta = 0 skips the ref).
    assert required - {"importance_sampling_ratio", "ref_per_token_logps"} <= LOSS_BATCH_KEYS, required
    assert {"tool_mask"} <= required | set(re.findall(r'"(\w+)" not in inputs', source))
    for key in ("old_per_token_logps", "pixel_values", "image_grid_thw", "num_images", "mm_token_type_ids"):
        assert key in optional, key
    # The token-mean (dapo) normalizer is the batch-wide count we gather.
    assert 'inputs["num_items_in_batch"]' in source and '"dapo"' in source
    assert 'completion_mask * inputs["tool_mask"]' in source


def test_split_still_floors_which_is_why_we_pad() -> None:
    chunks = trl_utils.split_tensor_dict({"x": torch.arange(7)}, 2)
    assert [c["x"].tolist() for c in chunks] == [[0, 1, 2], [3, 4, 5]]  # row 6 dropped


def test_helpers_we_import_exist() -> None:
    from trl.models import unwrap_model_for_generation
    from trl.models.utils import disable_gradient_checkpointing
    from trl.trainer.utils import pad, use_adapter

    assert {"gather_deepspeed3_params", "gradient_checkpointing_kwargs"} <= set(
        inspect.signature(unwrap_model_for_generation).parameters
    )
    assert callable(disable_gradient_checkpointing) and callable(use_adapter)
    assert {"padding_value", "padding_side", "pad_to_multiple_of"} <= set(inspect.signature(pad).parameters)


def test_the_checkpoint_loader_we_extend_keeps_its_signature() -> None:
    from transformers import Trainer

    params = list(inspect.signature(Trainer._load_from_checkpoint).parameters)
    assert params == ["self", "resume_from_checkpoint", "model"]
