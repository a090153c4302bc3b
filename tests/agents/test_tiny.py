"""The tiny offline checkpoints: reload offline, tokenizer layout, chat template, determinism, CLI."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from agents.tiny import SPECIAL_TOKENS, TOOL_TOKENS, build_tiny_model, checkpoint_parameter_count


@pytest.mark.parametrize("fixture", ["tiny_model_dir", "tiny_qwen3_dir"])
def test_reloads_offline_and_generates(fixture: str, request: pytest.FixtureRequest) -> None:
    import torch
    from PIL import Image
    from transformers import AutoModelForImageTextToText, AutoProcessor

    folder: Path = request.getfixturevalue(fixture)
    processor = AutoProcessor.from_pretrained(folder)
    model = AutoModelForImageTextToText.from_pretrained(folder)
    assert 150_000 < checkpoint_parameter_count(folder) < 500_000
    assert "video_processor" in json.loads((folder / "processor_config.json").read_text())
    image = Image.fromarray(np.full((112, 112, 3), 90, np.uint8))
    messages = [{"role": "user", "content": [{"type": "text", "text": "Look:"}, {"type": "image", "image": image}]}]
    text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert "Look:<|vision_start|><|image_pad|><|vision_end|><|im_end|>\n<|im_start|>assistant\n" in text
    inputs = processor(text=[text], images=[image], return_tensors="pt")
    merge = processor.image_processor.merge_size**2
    assert int((inputs["input_ids"] == processor.image_token_id).sum()) == int(inputs["image_grid_thw"].prod()) // merge
    with torch.inference_mode():
        out = model.generate(**inputs, max_new_tokens=4, do_sample=False)
    assert out.shape[1] == inputs["input_ids"].shape[1] + 4


def test_tokenizer_layout(tiny_model_dir: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    ids = tokenizer.convert_tokens_to_ids([*SPECIAL_TOKENS, *TOOL_TOKENS])
    assert ids == list(range(ids[0], ids[0] + len(ids))), "Qwen2.5-VL order, consecutive ids"
    assert ids[-1] == len(tokenizer) - 1
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.pad_token == "<|endoftext|>"
    call = '<tool_call>{"name": "select_frames", "arguments": {"target_frames": [3, 50]}}</tool_call>'
    encoded = tokenizer.encode("text " + call + "<|im_end|>", add_special_tokens=False)
    assert tokenizer.convert_tokens_to_ids("<tool_call>") in encoded
    assert tokenizer.decode(encoded, skip_special_tokens=True) == "text " + call
    assert tokenizer.decode(tokenizer.encode("Frame 12: TA=1, VQ=2 é✓")) == "Frame 12: TA=1, VQ=2 é✓"


def test_deterministic_with_seed(tmp_path: Path, tiny_model_dir: Path) -> None:
    again = build_tiny_model("qwen2_5_vl", tmp_path / "again", seed=0)
    for name in ("model.safetensors", "tokenizer.json", "config.json", "processor_config.json"):
        assert (again / name).read_bytes() == (tiny_model_dir / name).read_bytes(), name
    other = build_tiny_model("qwen2_5_vl", tmp_path / "other", seed=1)
    assert (other / "model.safetensors").read_bytes() != (tiny_model_dir / "model.safetensors").read_bytes()


def test_global_rng_untouched(tmp_path: Path) -> None:
    import torch

    state = torch.random.get_rng_state()
    build_tiny_model("qwen3_vl", tmp_path / "m", seed=5)
    assert torch.equal(state, torch.random.get_rng_state())


def test_unknown_arch(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown tiny architecture"):
        build_tiny_model("llama", tmp_path)


def test_cli_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from vr_env.commands import make_tiny_model

    assert make_tiny_model.HELP
    parser = argparse.ArgumentParser()
    make_tiny_model.add_arguments(parser)
    args = parser.parse_args(["--arch", "qwen3_vl", "--out", str(tmp_path / "cli"), "--seed", "3"])
    assert make_tiny_model.run(args) == 0
    assert "parameters" in capsys.readouterr().out
    assert (tmp_path / "cli" / "model.safetensors").is_file()


def test_command_module_imports_no_torch() -> None:
    import subprocess

    code = "import sys, vr_env.commands.make_tiny_model as m; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


@pytest.mark.parametrize("arch", ["qwen2_5_vl", "qwen3_vl"])
def test_larger_sizes_keep_the_rope_sections_consistent(arch: str) -> None:
    from agents.tiny import build_tokenizer, tiny_config

    config = tiny_config(arch, build_tokenizer(), hidden_size=128, num_layers=3, vision_hidden_size=64)
    text, vision = config.text_config, config.vision_config
    assert (text.hidden_size, text.intermediate_size, text.num_hidden_layers) == (128, 256, 3)
    assert sum(text.rope_parameters["mrope_section"]) == 128 // text.num_attention_heads // 2  # half the head dim
    assert (vision.hidden_size, vision.out_hidden_size) == (64, 128)
    default = tiny_config(arch, build_tokenizer())
    assert default.text_config.rope_parameters["mrope_section"] == [2, 3, 3]
    with pytest.raises(ValueError, match="multiple of 64"):
        tiny_config(arch, build_tokenizer(), hidden_size=96)


def test_larger_model_runs(tmp_path: Path) -> None:
    import torch
    from transformers import AutoModelForImageTextToText

    folder = build_tiny_model("qwen2_5_vl", tmp_path / "m", hidden_size=128, vision_hidden_size=64)
    model = AutoModelForImageTextToText.from_pretrained(str(folder))
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([[1, 2, 3]])).logits
    assert logits.shape[:2] == (1, 3) and torch.isfinite(logits).all()
