"""A trained judge as a reward for video-generator training (docs/judge-service.md).

``Judge`` (Python API, batched comparisons), ``Verdict`` (typed answer or "unscorable"),
``score_group`` / ``score_groups`` (one scalar per video of a GRPO group), adapters for TRL and
Flow-GRPO, and the HTTP service (``agents.judge.server``, imports FastAPI) with its client.
"""

from agents.judge.groups import GroupScores, score_group, score_groups
from agents.judge.judge import Comparison, Judge, JudgeConfig, JudgeRun
from agents.judge.verdict import TraceTurn, Verdict, combine_orders

__all__ = [
    "Comparison",
    "GroupScores",
    "Judge",
    "JudgeConfig",
    "JudgeRun",
    "TraceTurn",
    "Verdict",
    "combine_orders",
    "score_group",
    "score_groups",
]
