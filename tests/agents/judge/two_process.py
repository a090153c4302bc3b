"""Worker for the 2-process adapter tests: joins a gloo group and scores its slice of a batch."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import numpy as np


def batch() -> tuple[list[str], list[Any], list[str]]:
    """12 samples, 3 prompts x 4 videos (frame arrays whose level is their quality; 13 is unscorable)."""
    prompts = [p for p in ("a cat", "a dog", "a kite") for _ in range(4)]
    levels = [1, 5, 2, 9, 4, 3, 13, 8, 7, 6, 10, 12]
    videos = [np.full((2, 4, 4, 3), level, dtype=np.uint8) for level in levels]
    return prompts, videos, [f"s{i}" for i in range(12)]


def layouts() -> list[list[list[int]]]:
    """Sample ids per rank: a prompt's samples spread over both processes, in shuffled positions."""
    rng = np.random.default_rng(7)
    out = []
    for _ in range(2):
        order = [int(i) for i in rng.permutation(12)]
        out.append([order[:6], order[6:]])
    out.append([[0, 4, 8, 1, 5, 9, 2], [10, 6, 3, 11, 7]])  # uneven halves
    return out


def worker(rank: int, world: int, port: int, out: str) -> None:
    import torch
    import torch.distributed as dist

    from agents.judge.adapters import FlowGRPOReward, TRLRewardFunction
    from tests.agents.judge.stubs import StubJudge, close_calls_go_first

    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world, timeout=timedelta(seconds=60)
    )
    prompts, videos, _ = batch()
    results: dict[str, Any] = {}
    try:
        for n, layout in enumerate(layouts()):
            mine = layout[rank]
            judge = StubJudge(rule=close_calls_go_first)
            trl = TRLRewardFunction(judge)
            scores = trl([prompts[i] for i in mine], [torch.from_numpy(videos[i]) for i in mine])
            flow = FlowGRPOReward(StubJudge(rule=close_calls_go_first), weights={"OA": 1.0, "MQ": 0.5})
            stacked = np.stack([videos[i] for i in mine])
            flow_scores, info = flow(stacked, [prompts[i] for i in mine], [{}] * len(mine))
            results[str(n)] = {
                "ids": mine,
                "trl": scores,
                "flow": [float(x) for x in flow_scores],
                "flow_unscorable": info["unscorable_count"],
                "judged": sum(len(b) for b in judge.batches),
            }
    finally:
        dist.destroy_process_group()
    with open(out, "w") as handle:
        json.dump(results, handle)
