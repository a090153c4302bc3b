"""SFT runs: resume after a kill gives the same weights; LoRA, frozen vision tower; model path checks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agents.train.config import SFTRunConfig
from agents.train.sft import ModelPathError, check_model_path, train_sft
from agents.train.traces import build_traces

ENV = {"frames_per_video": 16, "max_tool_calls": 2, "dataset_kwargs": {"n": 12}}


@pytest.fixture(scope="module")
def traces(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("coldstart")
    report = build_traces("scanner", ENV, out_dir=out, limit=2, progress=False)
    assert report.kept == 2
    return out / "traces.jsonl"


def _weights(folder: Path) -> dict[str, Any]:
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


class Kill(Exception):
    """Stands in for a killed process."""


def _killer(at_step: int) -> Any:
    from transformers import TrainerCallback

    class KillAt(TrainerCallback):
        def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if state.global_step == at_step:
                raise Kill(f"killed before step {at_step + 1}")

    return KillAt()


def test_a_killed_run_resumes_to_the_same_weights(tiny_model_dir: Path, traces: Path, tmp_path: Path) -> None:
    import torch

    config = SFTRunConfig(
        learning_rate=1e-3, gradient_accumulation_steps=1, max_steps=4, save_steps=2, torch_threads=1, seed=5
    )
    straight = train_sft(tiny_model_dir, traces, tmp_path / "straight", config, verbose=False)
    assert straight.examples == 6 and straight.resumed_from is None and len(straight.losses()) == 4

    with pytest.raises(Kill):
        train_sft(tiny_model_dir, traces, tmp_path / "killed", config, callbacks=[_killer(3)], verbose=False)
    assert (tmp_path / "killed" / "checkpoint-2").is_dir() and not (tmp_path / "killed" / "model.safetensors").exists()
    resumed = train_sft(tiny_model_dir, traces, tmp_path / "killed", config, verbose=False)
    assert resumed.resumed_from is not None and resumed.resumed_from.endswith("checkpoint-2")

    a, b, start = _weights(tmp_path / "straight"), _weights(tmp_path / "killed"), _weights(tiny_model_dir)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), [k for k in a if not torch.equal(a[k], b[k])][:5]
    text_weights = [k for k in a if "visual" not in k and "embed" not in k]
    assert any(not torch.equal(a[k], start[k]) for k in text_weights)
    # The vision tower was frozen (default, as in the official script).
    assert all(torch.equal(a[k], start[k]) for k in a if "visual" in k)
    saved = json.loads((tmp_path / "straight" / "train_config.json").read_text())
    assert saved["sft"]["learning_rate"] == 1e-3 and saved["sft"]["effective_batch_size"] == 1


def test_lora_with_gradient_checkpointing_saves_a_merged_model(
    tiny_model_dir: Path, traces: Path, tmp_path: Path
) -> None:
    import torch
    from transformers import AutoModelForImageTextToText

    config = SFTRunConfig(
        learning_rate=1e-2, warmup_ratio=0.0, gradient_accumulation_steps=1, max_steps=2, lora=True, lora_r=4,
        gradient_checkpointing=True, torch_threads=1,
    )  # fmt: skip
    result = train_sft(tiny_model_dir, traces, tmp_path / "lora", config, verbose=False)
    assert result.losses()
    weights, start = _weights(tmp_path / "lora"), _weights(tiny_model_dir)
    assert set(weights) == set(start)  # merged: a plain checkpoint, no adapter keys
    changed = [k for k in weights if not torch.equal(weights[k], start[k])]
    assert changed and all("proj" in k and "visual" not in k for k in changed)
    AutoModelForImageTextToText.from_pretrained(str(tmp_path / "lora"))


def test_paper_defaults() -> None:
    config = SFTRunConfig()
    assert (config.learning_rate, config.warmup_ratio, config.effective_batch_size) == (1.5e-6, 0.2, 32)
    with pytest.raises(ValueError, match="warmup_ratio"):
        SFTRunConfig(warmup_ratio=1.5)


def test_model_paths_are_checked_before_loading(tmp_path: Path) -> None:
    with pytest.raises(ModelPathError, match="does not exist"):
        check_model_path(tmp_path / "missing")
    with pytest.raises(ModelPathError, match=r"no config\.json"):
        check_model_path(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    with pytest.raises(ModelPathError, match="'gpt2' model, not a vision-language"):
        check_model_path(tmp_path)
    with pytest.raises(ModelPathError, match="does not exist"):
        train_sft(tmp_path / "missing", tmp_path / "nothing.jsonl", tmp_path / "out", verbose=False)
