"""The paper's exploration term for single-env RL: pay tool use while the policy rarely uses the tool.

VR-Thinker's GRPO adds ``eta * max(omega - R, 0)`` to every trajectory of a group that used a tool,
``R`` being the group's tool-use rate (``vr_env.rewards.exploration_bonus``). SB3 algorithms have no
groups; :class:`ExplorationBonus` takes ``R`` over the env's last ``window`` episodes instead. The
term vanishes once the tool is used in at least ``omega`` of the episodes, so it can revive the tool
but not pay for overusing it. It is a training-time shaping: evaluate on an env without it.
"""

from __future__ import annotations

from collections import deque
from typing import Any, SupportsFloat

import gymnasium as gym

from vr_env.config import RewardWeights

PAPER = RewardWeights()


class ExplorationBonus(gym.Wrapper):
    """Adds ``eta * max(omega - R, 0)`` to the final reward of an episode that executed a tool call.

    ``R`` is the fraction of the last ``window`` finished episodes (this one included) that used the
    tool; ``info["exploration_bonus"]`` holds the amount added at the episode's last step, and
    ``paid_episodes`` / ``paid_total`` count the episodes paid and the sum paid so far.

    :param omega: tool-use rate below which the bonus is paid (paper: 0.2).
    :param eta: scale of the bonus (paper: 0.5).
    :param window: number of recent episodes ``R`` is measured over.
    """

    def __init__(
        self,
        env: gym.Env,
        omega: float = PAPER.exploration_omega,
        eta: float = PAPER.exploration_eta,
        window: int = 64,
    ) -> None:
        super().__init__(env)
        if not 0.0 <= omega <= 1.0 or eta < 0.0 or window < 1:
            raise ValueError(f"need 0 <= omega <= 1, eta >= 0, window >= 1; got {omega}, {eta}, {window}")
        self.omega, self.eta = float(omega), float(eta)
        self.recent: deque[bool] = deque(maxlen=int(window))
        self.paid_episodes, self.paid_total = 0, 0.0

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        if terminated or truncated:
            used = int(info.get("tool_calls", 0)) > 0
            self.recent.append(used)
            rate = sum(self.recent) / len(self.recent)
            bonus = self.eta * max(self.omega - rate, 0.0) if used else 0.0
            info["exploration_bonus"] = bonus
            self.paid_episodes += bonus > 0
            self.paid_total += bonus
            reward = float(reward) + bonus
        return obs, reward, terminated, truncated, info
