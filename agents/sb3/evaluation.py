"""Evaluation of SB3 policies on the wrapper, through the one episode driver, and reference policies."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from agents.sb3.wrapper import ANSWER_VALUES, Observation, SB3JudgeWrapper
from vr_env.driver import EpisodeResult, Job, drive
from vr_env.protocol.labels import LABEL_KEYS

Predict = Callable[[Observation], Any]


def evaluate_judge(predict: Predict, env: SB3JudgeWrapper | gym.Env, pairs: int) -> dict[str, Any]:
    """Play pairs ``0..pairs-1`` of ``env``'s dataset (pinned, unswapped) with ``predict(obs) -> action``.

    ``env`` is an :class:`SB3JudgeWrapper`, possibly wrapped again (e.g. :func:`agents.sb3.make_toy_env`).

    Returns the mean episode return, per-key accuracy, mean tool calls and the answers' value counts.
    """
    size = len(cast(Any, env.unwrapped).dataset)
    if not 1 <= pairs <= size:
        raise ValueError(f"pairs must lie in 1..{size}, got {pairs}")
    results: list[EpisodeResult] = []
    drive([env], [lambda obs: np.asarray(predict(obs))], [Job(i) for i in range(pairs)], on_episode=results.append)
    skipped = [r for r in results if not r.ok]
    if skipped:
        raise ValueError(f"{len(skipped)} pair(s) could not be read, first: {skipped[0].reason}")
    returns = [r.total_reward for r in results]
    hits = dict.fromkeys(LABEL_KEYS, 0)
    tool_calls = sum(r.tool_calls for r in results)
    answered = {key: [0] * ANSWER_VALUES for key in LABEL_KEYS}
    for result in results:
        final = result.final_answer or {}
        for key in LABEL_KEYS:
            hits[key] += final.get(key) == result.labels.get(key)
            if key in final:
                answered[key][final[key]] += 1
    return {
        "pairs": pairs,
        "return_mean": float(np.mean(returns)),
        "accuracy": {key: hits[key] / pairs for key in LABEL_KEYS},
        "tool_calls_mean": tool_calls / pairs,
        "answer_counts": answered,
    }


def random_policy(action_space: spaces.Space[Any], seed: int = 0) -> Predict:
    """Uniformly random actions from a seeded copy of a ``MultiDiscrete`` space (the random-answer reference)."""
    if not isinstance(action_space, spaces.MultiDiscrete):
        raise TypeError(f"random_policy needs a MultiDiscrete action space, got {action_space}")
    space = spaces.MultiDiscrete(action_space.nvec, seed=seed)
    return lambda obs: space.sample()


def constant_policy(action: Sequence[int]) -> Predict:
    """Always the same action, e.g. ``[0, 0, 0, 0, 0]`` (answer tie on every key at once)."""
    fixed = np.asarray(action, dtype=np.int64)
    return lambda obs: fixed
