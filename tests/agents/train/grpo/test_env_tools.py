"""The stock-TRL path: ``VRJudgeToolEnv`` as ``environment_factory`` of a plain ``GRPOTrainer``.

The tiny Qwen3-VL gets TRL's tool-capable Qwen3-VL chat template; its ``generate`` is scripted
(a ``select_frames`` call, then ``final_answer``), so TRL's own tool loop runs our tools, their
images go back into the conversation, and ``get_reward`` scores the episode.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agents.train.env_tools import VRJudgeToolEnv, exploration_reward, tool_env_factory, tool_prompt_dataset

ENV = {"frames_per_video": 16}


def test_tools_drive_the_environment() -> None:
    env = VRJudgeToolEnv(**ENV)
    observation = env.reset(pair_index=1, prompt="ignored")
    assert observation[0]["type"] == "text" and sum(b["type"] == "image" for b in observation) == 8
    result = env.select_frames([1, 20])
    assert [b["type"] for b in result].count("image") == 2 and env.used_tool
    assert "do not exist" in env.select_frames([999])[0]["text"]  # a bad call: text, penalized
    labels = env.env.unwrapped.dataset[1].labels
    assert env.final_answer(**{k: int(labels[k]) for k in ("TA", "VQ", "MQ", "OA")}) == "Answer recorded."
    assert env.get_reward() == pytest.approx(1.0 - 0.1)  # accuracy 1, one invalid call
    with pytest.raises(ValueError, match="ended"):
        env.final_answer(0, 0, 0, 0)
    with pytest.raises(ValueError, match="pair_index"):
        env.reset(prompt="no pair")


def test_exploration_reward_is_per_group() -> None:
    envs = [VRJudgeToolEnv.__new__(VRJudgeToolEnv) for _ in range(4)]
    for env, used in zip(envs, [True, False, False, False], strict=True):
        env.used_tool = used
    assert exploration_reward(envs, num_generations=4, omega=0.5, eta=0.5) == [0.125, 0.0, 0.0, 0.0]


def _forcing_generate(model: Any, tokenizer: Any, texts: list[str]) -> Any:
    """Wrap ``model.generate`` so the k-th call of each row emits ``texts[k]`` (forward passes stay real)."""
    import torch
    from transformers import LogitsProcessorList

    from agents.backends.transformers_backend import ForcedTokensLogitsProcessor

    original = model.generate
    calls = {"n": 0}

    def generate(*args: Any, **kwargs: Any) -> Any:
        ids = kwargs["input_ids"]
        text = texts[min(calls["n"], len(texts) - 1)]
        calls["n"] += 1
        forced = [*tokenizer.encode(text, add_special_tokens=False), tokenizer.convert_tokens_to_ids("<|im_end|>")]
        processors = LogitsProcessorList([ForcedTokensLogitsProcessor([forced] * ids.shape[0], ids.shape[1])])
        with torch.no_grad():
            return original(*args, logits_processor=processors, **kwargs)

    model.generate = generate
    return calls


def test_plain_grpo_trainer_runs_our_tools(tiny_qwen3_dir: Path, tmp_path: Path) -> None:
    import torch
    import trl
    from transformers import AutoModelForImageTextToText, AutoProcessor
    from trl import GRPOConfig, GRPOTrainer

    torch.set_num_threads(1)
    model = AutoModelForImageTextToText.from_pretrained(str(tiny_qwen3_dir), dtype=torch.float32)
    processor = AutoProcessor.from_pretrained(str(tiny_qwen3_dir))
    template = (Path(trl.__file__).parent / "chat_templates" / "qwen3_vl.jinja").read_text()
    processor.chat_template = processor.tokenizer.chat_template = template  # the tiny template has no tools
    labels = VRJudgeToolEnv(**ENV).env.unwrapped.dataset[0].labels
    answer = {k: int(labels[k]) for k in ("TA", "VQ", "MQ", "OA")}
    call = {"name": "select_frames", "arguments": {"target_frames": [2, 30]}}
    final = {"name": "final_answer", "arguments": answer}
    texts = [f"<tool_call>\n{json.dumps(call)}\n</tool_call>", f"<tool_call>\n{json.dumps(final)}\n</tool_call>"]
    args = GRPOConfig(
        output_dir=str(tmp_path), use_cpu=True, bf16=False, max_steps=1, num_generations=2,
        per_device_train_batch_size=2, max_completion_length=400, report_to=[], beta=0.0, save_strategy="no",
        shuffle_dataset=False,
    )  # fmt: skip
    trainer = GRPOTrainer(
        model,
        args=args,
        train_dataset=tool_prompt_dataset(1),
        processing_class=processor,
        environment_factory=tool_env_factory(**ENV),
    )
    assert sorted(t.__name__ for t in trainer.tools) == ["final_answer", "select_frames"]
    calls = _forcing_generate(trainer.model, processor.tokenizer, texts)
    trainer.train()
    logged = trainer.state.log_history[0]
    assert calls["n"] >= 2 and logged["tools/call_frequency"] > 0
    assert logged["rewards/VRJudgeToolEnv/mean"] == pytest.approx(1.0)  # both rollouts answered right
