"""Train a Stable-Baselines3 PPO judge on a toy setting and compare its accuracy before and after.

``VRJudgeSB3-v0`` (``agents/sb3/``) gives the judging env numeric spaces: an action
``[choice, TA, VQ, MQ, OA]`` that the wrapper writes out as a protocol turn, and an observation of
the visible frames stacked on the channel axis. On the ``noise`` toy (only noise defects, over the
whole clip, so the two initial frames show them) PPO learns to tell the noisy video from the clean
one in a few thousand steps.

    python examples/03_sb3_ppo.py [--timesteps N] [--quick]

``--quick`` (or ``VR_ENV_QUICK=1``): 256 timesteps, 64 training and 10 held-out pairs (shows the
loop, learns little).
"""

from __future__ import annotations

import argparse
import os

from vr_env.commands.extras import require_train_extra

require_train_extra("examples/03_sb3_ppo.py", ("torch", "stable_baselines3"))

import torch  # noqa: E402  (after the friendly check for the train extra)
from stable_baselines3 import PPO  # noqa: E402
from stable_baselines3.common.env_util import make_vec_env  # noqa: E402

from agents.sb3 import evaluate_judge, make_sb3_env, random_policy, toy_env_kwargs, toy_ppo_kwargs  # noqa: E402


def show(name: str, result: dict) -> None:
    acc = result["accuracy"]
    print(f"{name:>15}: VQ {acc['VQ']:.2f}  OA {acc['OA']:.2f}  mean return {result['return_mean']:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timesteps", type=int, default=4096)  # 16 PPO rollouts: under a minute on 2 cores
    parser.add_argument("--pairs", type=int, default=100, help="held-out pairs to evaluate on")
    parser.add_argument("--quick", action="store_true", default=os.environ.get("VR_ENV_QUICK") == "1")
    args = parser.parse_args()
    train_pairs = 2048
    if args.quick:
        args.timesteps, args.pairs, train_pairs = min(args.timesteps, 256), min(args.pairs, 10), 64
    torch.set_num_threads(1)

    # Training pairs come from generator seed 0, held-out pairs from seed 1.
    train_env = make_vec_env(make_sb3_env, n_envs=4, seed=0, env_kwargs=toy_env_kwargs("noise", train_pairs, seed=0))
    test_env = make_sb3_env(**toy_env_kwargs("noise", args.pairs, seed=1))
    print("action space:", test_env.action_space)
    print("observation space:", test_env.observation_space)
    obs, _ = test_env.reset(seed=0)
    print("one action as text:\n" + test_env.action_text([0, 0, 1, 0, 1]))

    model = PPO("MultiInputPolicy", train_env, seed=0, **toy_ppo_kwargs("slot"))
    policy = lambda obs: model.predict(obs, deterministic=True)[0]  # noqa: E731

    show("random actions", evaluate_judge(random_policy(test_env.action_space, seed=0), test_env, args.pairs))
    show("PPO before", evaluate_judge(policy, test_env, args.pairs))
    model.learn(args.timesteps)
    show("PPO after", evaluate_judge(policy, test_env, args.pairs))


if __name__ == "__main__":
    main()
