"""A trained judge as a reward for video-generator training (docs/judge-service.md).

``Judge`` (Python API, batched comparisons), ``Verdict`` (typed answer or "unscorable"),
``score_group`` / ``score_groups`` (position-balanced scores per video and dimension of a GRPO group;
schedules in ``agents.judge.schemes``), adapters for TRL and Flow-GRPO (``agents.judge.adapters``), and the HTTP service (``agents.judge.server``, FastAPI) with
its client (``agents.judge.client``). Names are imported on first use, so the settings in
``agents.judge.config`` load without the rest.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "Comparison": "agents.judge.judge",
    "Judge": "agents.judge.judge",
    "JudgeRun": "agents.judge.judge",
    "JudgeConfig": "agents.judge.config",
    "ServeConfig": "agents.judge.config",
    "GroupScores": "agents.judge.groups",
    "score_group": "agents.judge.groups",
    "score_groups": "agents.judge.groups",
    "schedule": "agents.judge.schemes",
    "TraceTurn": "agents.judge.verdict",
    "Verdict": "agents.judge.verdict",
    "combine_orders": "agents.judge.verdict",
    "TRLRewardFunction": "agents.judge.adapters",
    "FlowGRPOReward": "agents.judge.adapters",
    "JudgeClient": "agents.judge.client",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'agents.judge' has no attribute {name!r}")
