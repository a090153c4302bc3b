"""The miniature base: its data, its batches, its pretraining (tiny sizes) and the shipped checkpoint."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from agents.frame_stats import frame_stats
from agents.pretrain.base import MINI_BASE, MINI_ENV, MINI_PRESET, REPORT_FILE, BaseConfig, build_base
from agents.pretrain.frames import CLEAN_ANSWER, frame_bank, pair_view
from agents.tiny import tiny_config, width_scaled_std
from vr_env.config import EnvConfig
from vr_env.data.synthetic import synthetic_config

ENV = EnvConfig(frames_per_video=MINI_ENV["frames_per_video"], max_tool_calls=1)


def test_frame_bank_is_seeded_and_labels_are_true() -> None:
    frames, labels = frame_bank(24, kinds=("noise",), seed=5)
    again, same = frame_bank(24, kinds=("noise",), seed=5)
    assert np.array_equal(frames, again) and np.array_equal(labels, same)
    assert not np.array_equal(frames, frame_bank(24, kinds=("noise",), seed=6)[0])
    noise = np.array([frame_stats(f).noise for f in frames])
    assert 0 < labels.sum() < len(labels)
    assert noise[labels == 1].min() > 8.0 > noise[labels == 0].max(), "the scanner's noise threshold separates them"
    with pytest.raises(ValueError, match="defect kinds"):
        frame_bank(2, kinds=("smudge",), seed=0)


def test_pair_view_notes_match_the_defects_shown() -> None:
    synthetic = synthetic_config(**{**MINI_PRESET, "seed": 77})
    views = [pair_view(i, synthetic, ENV, fetched=bool(i % 2)) for i in range(40)]
    assert {len(v.frame_ids) for v in views} == {8, 16}
    for view in views:
        for video in (1, 2):
            shown = [
                (f, img)
                for f, img in zip(view.frame_ids, view.images, strict=True)
                if ENV.protocol.locate(f)[0] == video
            ]
            noisy = [ENV.protocol.locate(f)[1] + 1 for f, img in shown if frame_stats(img).noise > 8.0]
            expected = ", ".join(f"#{p} noise" for p in sorted(noisy)) or CLEAN_ANSWER
            assert f"V{video}: {expected}." in view.answer
    assert any("noise" in v.answer for v in views) and any(v.answer.count(CLEAN_ANSWER) == 2 for v in views)
    chat = views[0].chat(ENV)
    labels = [b["text"] for b in chat[0]["content"] if b["type"] == "text"]
    assert (
        labels[0] == f"Frame {views[0].frame_ids[0]} (video 1, #{ENV.protocol.locate(views[0].frame_ids[0])[1] + 1}):"
    )


def test_batches_label_the_answer_only(tiny_model_dir: Path) -> None:
    from transformers import AutoProcessor

    from agents.pretrain.batches import IGNORE_INDEX, chat_batch
    from agents.pretrain.frames import frame_chat

    processor = AutoProcessor.from_pretrained(tiny_model_dir)
    frames, _ = frame_bank(2, kinds=("noise",), seed=1)
    batch = chat_batch(
        processor, [frame_chat(frames[0], 1, ("noise",)), frame_chat(frames[1], 0, ("noise",))], train=True
    )
    for row, answer in enumerate(("noise", CLEAN_ANSWER)):
        labelled = batch["labels"][row][batch["labels"][row] != IGNORE_INDEX]
        assert processor.tokenizer.decode(labelled) == answer + "<|im_end|>\n"
    assert int((batch["labels"] == processor.image_token_id).sum()) == 0


def test_tiny_models_are_initialized_to_their_width() -> None:
    from agents.tiny import build_tokenizer

    config = tiny_config("qwen2_5_vl", build_tokenizer(), hidden_size=128)
    assert config.text_config.initializer_range == pytest.approx(width_scaled_std(128))
    assert config.vision_config.initializer_range == pytest.approx(width_scaled_std(32))
    old = tiny_config("qwen2_5_vl", build_tokenizer(), initializer_range=0.02)
    assert old.text_config.initializer_range == old.vision_config.initializer_range == 0.02


def test_build_base_small_is_deterministic_and_learns(tmp_path: Path) -> None:
    """Tiny sizes: the report is written, the tower head separates held-out frames, and a second
    build gives the same bytes."""
    config = BaseConfig(
        hidden_size=64, train_frames=256, test_frames=32, train_views=8, test_views=4, tower_steps=100,
        align_steps=4, view_batch=2, eval_every=100, threads=1,
    )  # fmt: skip
    report = build_base(tmp_path / "a", config, verbose=False)
    assert report["tower"]["evals"][-1][1] >= 0.9
    assert json.loads((tmp_path / "a" / REPORT_FILE).read_text())["config"]["tower_steps"] == 100
    build_base(tmp_path / "b", config, verbose=False)
    digest = [hashlib.sha256((tmp_path / d / "model.safetensors").read_bytes()).hexdigest() for d in "ab"]
    assert digest[0] == digest[1]


def test_the_shipped_base_is_a_standard_checkpoint_that_sees() -> None:
    """The shipped weights load with the stock classes and answer two known frames right."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from agents.pretrain.frames import frame_chat
    from agents.pretrain.stages import frame_accuracy, greedy_answers

    model = AutoModelForImageTextToText.from_pretrained(MINI_BASE)
    processor = AutoProcessor.from_pretrained(MINI_BASE)
    assert type(model).__name__ == "Qwen2_5_VLForConditionalGeneration"
    assert type(processor).__name__ == "Qwen2_5_VLProcessor"
    assert (MINI_BASE / "model.safetensors").stat().st_size < 8 * 2**20
    frames, labels = frame_bank(16, kinds=("noise",), seed=4242)
    noisy, clean = int(np.flatnonzero(labels == 1)[0]), int(np.flatnonzero(labels == 0)[0])
    said = greedy_answers(
        model, processor, [frame_chat(frames[noisy], None, ("noise",)), frame_chat(frames[clean], None, ("noise",))], 16
    )
    assert said == ["noise", CLEAN_ANSWER]
    assert frame_accuracy(model, processor, frames, labels, ("noise",)) >= 0.95
    report = json.loads((MINI_BASE / REPORT_FILE).read_text())
    assert report["frame_accuracy"] >= 0.95


def test_pretrain_base_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from vr_env.cli import main

    flags = "--hidden-size 64 --train-frames 16 --test-frames 8 --train-views 4 --test-views 2 --tower-steps 2 "
    flags += "--align-steps 2 --frame-batch 4 --view-batch 2 --threads 1"
    assert main(["pretrain-base", "--out", str(tmp_path / "base"), *flags.split()]) == 0
    assert "held-out single frames" in capsys.readouterr().out
    report = json.loads((tmp_path / "base" / REPORT_FILE).read_text())
    assert report["config"]["align_steps"] == 2 and report["config"]["hidden_size"] == 64
