"""Stable-Baselines3 path: ``VRJudgeSB3-v0``, the judging env with numeric spaces instead of text.

SB3 handles Box / Discrete / MultiDiscrete / MultiBinary and single-level Dict spaces, not text.
:class:`SB3JudgeWrapper` turns a ``VRJudgeEnv`` into such an env:

- **action** ``MultiDiscrete([1 + segments, 3, 3, 3, 3])``: ``[choice, TA, VQ, MQ, OA]``. ``choice``
  0 answers now; ``s`` in ``1..segments`` fetches segment ``s``: the F candidate positions are cut
  into ``segments`` equal parts and a fetch asks for ``max_frames_per_call // 2`` evenly spaced
  positions of that part (fewer if the part is shorter), in video 1 and at the same positions in
  video 2. The four value components
  are the protocol's values (0 = tie, 1 = video 1, 2 = video 2). Each action is rendered as a
  well-formed protocol turn (:meth:`SB3JudgeWrapper.action_text`): ``<Snapshot>`` / ``<Think>``, then
  either ``<Recommend Answer>...CF=c</Recommend Answer>`` plus a ``select_frames`` call, or
  ``<Answer>...</Answer>``.
- **budget rule**: a fetch chosen when no tool call is left (or on the last allowed turn) is
  rendered as the final answer with the same values, so the wrapper never produces an invalid turn
  and an SB3 agent never pays a format penalty.
- **observation** ``Dict``: ``frames`` ``Box(h, w, 3K) uint8`` (the K visible slots stacked on the
  channel axis, slot k in channels ``3k..3k+2``, zeros for empty slots), ``frame_mask``
  ``MultiBinary(K)``, ``budget`` ``MultiDiscrete([max_turns + 1, max_tool_calls + 1])`` (turns
  taken, tool calls left) and ``fetched`` ``MultiBinary(segments)`` (segments fetched so far).

``(h, w)`` is the env's ``observation_size``; SB3's ``NatureCNN`` needs ``h, w >= 36`` and its
channels-last test needs ``3K < min(h, w)``, so :func:`make_sb3_env` picks
:func:`sb3_observation_size` unless you pass one. :class:`SlotCNN` is a features extractor suited to
these observations; :data:`TOY_SETTINGS` are small settings for trying PPO (docs/sb3.md).

>>> env = make_sb3_env(frames_per_video=8, initial_frames=2, max_frames_per_call=2, max_tool_calls=1,
...                    segments=2, dataset_kwargs={"n": 4})
>>> obs, info = env.reset(seed=0)
>>> obs["frames"].shape, obs["frame_mask"].tolist(), obs["budget"].tolist()
((48, 48, 12), [1, 1, 0, 0], [0, 1])
>>> env.segment_frames  # action[0] = s fetches segment_frames[s - 1]
((3, 11), (7, 15))
>>> print(env.action_text([1, 0, 1, 0, 1]).splitlines()[-1])
<tool_call>{"name": "select_frames", "arguments": {"target_frames": [3, 11]}}</tool_call>
"""

from __future__ import annotations

from gymnasium.envs.registration import register, registry

from agents.sb3.evaluation import Predict, constant_policy, evaluate_judge, random_policy
from agents.sb3.exploration import ExplorationBonus
from agents.sb3.extractor import SlotCNN, VideoPoolCNN
from agents.sb3.toys import TOY_SETTINGS, TOY_TRAINING, make_toy_env, toy_env_kwargs, toy_ppo_kwargs
from agents.sb3.wrapper import (
    ANSWER_NOW,
    ANSWER_VALUES,
    MIN_IMAGE_SIDE,
    Observation,
    SB3JudgeWrapper,
    make_sb3_env,
    sb3_observation_size,
    segment_frame_ids,
)

if "VRJudgeSB3-v0" not in registry:
    register(id="VRJudgeSB3-v0", entry_point="agents.sb3:make_sb3_env")

__all__ = [
    "ANSWER_NOW",
    "ANSWER_VALUES",
    "MIN_IMAGE_SIDE",
    "TOY_SETTINGS",
    "TOY_TRAINING",
    "ExplorationBonus",
    "Observation",
    "Predict",
    "SB3JudgeWrapper",
    "SlotCNN",
    "VideoPoolCNN",
    "constant_policy",
    "evaluate_judge",
    "make_sb3_env",
    "make_toy_env",
    "random_policy",
    "sb3_observation_size",
    "segment_frame_ids",
    "toy_env_kwargs",
    "toy_ppo_kwargs",
]
