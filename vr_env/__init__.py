"""vr-env: VR-Thinker video-pair judging as a Gymnasium environment.

``import vr_env`` registers ``VRJudge-v0``; ``gym.make("vr_env:VRJudge-v0")`` imports it for you.
"""

from __future__ import annotations

from gymnasium.envs.registration import register, registry

from vr_env.config import EnvConfig, RewardWeights

__version__ = "0.1.0"
__all__ = ["EnvConfig", "RewardWeights", "__version__"]

if "VRJudge-v0" not in registry:
    register(id="VRJudge-v0", entry_point="vr_env.env:VRJudgeEnv")
