"""Worker of ``test_grpo_distributed.py``'s synced-generation test (run by torchrun, one per rank).

transformers is told it runs under ZeRO-3 (so, with two ranks, ``generate`` turns ``synced_gpus`` on
by itself, as it does on GPUs) and the ranks play deliberately uneven episodes: rank 1 makes two tool
calls per episode and its group is degenerate (refilled by dynamic sampling), rank 0 answers at once;
the held-out evaluation gives rank 0 two pairs with one turn and rank 1 one pair with three. For each
``synced_generation`` mode given, one trainer trains one step; each rank writes what its
``generate`` calls were to ``OUT/<mode>-rank<R>.json``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

TOOL = (
    "<Snapshot>sharp</Snapshot><Think>look</Think><Recommend Answer>TA=1, VQ=1, MQ=0, OA=1, CF=2</Recommend Answer>"
    '<tool_call>{"name": "select_frames", "arguments": {"target_frames": [1, 2]}}</tool_call>'
)


def final(answer: str) -> str:
    return f"<Snapshot>smooth</Snapshot><Think>done</Think><Answer>{answer}</Answer>"


def play(episode: int, turn: int, info: dict[str, Any]) -> str:
    """Rank 1: two tool calls, then the same answer in every episode; rank 0: one turn, answers alternate."""
    import torch.distributed as dist

    if dist.get_rank() == 1:
        return TOOL if turn < 2 else final("TA=1, VQ=1, MQ=1, OA=1")
    return final("TA=1, VQ=1, MQ=1, OA=1" if episode % 2 == 0 else "TA=2, VQ=2, MQ=2, OA=2")


def main(model_dir: str, out: str, modes: list[str]) -> None:
    import torch
    import torch.distributed as dist
    import transformers.generation.utils as generation_utils
    from datasets import Dataset
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from agents.backends.transformers_backend import TransformersBackend
    from agents.train.grpo import WindowedGRPOConfig, WindowedGRPOTrainer

    generation_utils.is_deepspeed_zero3_enabled = lambda: True  # type: ignore[attr-defined]  # as under ZeRO-3
    torch.set_num_threads(1)
    record: dict[str, Any] = {}
    generate = generation_utils.GenerationMixin.generate

    def recording_generate(self: Any, *args: Any, **kwargs: Any) -> Any:
        record["synced"].append(kwargs.get("synced_gpus"))
        return generate(self, *args, **kwargs)

    drain = TransformersBackend.drain

    def recording_drain(self: TransformersBackend) -> int:
        made = drain(self)
        record["dummy_calls"] += made
        return made

    generation_utils.GenerationMixin.generate = recording_generate  # type: ignore[method-assign]
    TransformersBackend.drain = recording_drain  # type: ignore[method-assign]
    for mode in modes:
        record.update(synced=[], dummy_calls=0)
        model = AutoModelForImageTextToText.from_pretrained(model_dir, dtype=torch.float32)
        processor = AutoProcessor.from_pretrained(model_dir)
        args = WindowedGRPOConfig(
            output_dir=str(Path(out) / mode), use_cpu=True, bf16=False, max_steps=1, num_generations=2,
            per_device_train_batch_size=2, env_kwargs={"frames_per_video": 16, "max_tool_calls": 2, "memory_window": 1},
            max_completion_length=8, report_to=[], logging_steps=1, save_strategy="no", dynamic_sampling=True,
            max_refill_rounds=1, learning_rate=1e-3, seed=0, beta=0.0, synced_generation=mode, eval_every=1,
            eval_pairs=3,
        )  # fmt: skip
        dataset = Dataset.from_dict({"pair_index": [0, 1, 2, 3]})
        trainer = WindowedGRPOTrainer(model, args, processor, dataset, script=play, eval_script=play)
        trainer.train()
        rank = dist.get_rank()
        result = {
            "rank": rank,
            "steps": trainer.state.global_step,
            "synced": record["synced"],
            "dummy_calls": record["dummy_calls"],
            "refilled": trainer.last_generation.report.refilled if trainer.last_generation else None,
            "eval_steps": [row["step"] for row in trainer.state.log_history if "eval/tau" in row],
            "rows_real": [row["rows/real"] for row in trainer.state.log_history if "rows/real" in row],
            "mean_length": [row["completions/mean_length"] for row in trainer.state.log_history if "rows/real" in row],
        }
        Path(out, f"{mode}-rank{rank}.json").write_text(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3].split(","))
