"""A vision-language policy in the loop: batched rollouts with a tiny offline Qwen2.5-VL.

Builds a random-weight tiny model (no download), plays G episodes on each of a few synthetic pairs
with one generation batch per turn, and prints what a trainer receives: per-turn records with the
exact prompt ids, sampled ids and log-probs, plus each episode's reward and GRPO advantage.

    python examples/04_tiny_vlm_rollouts.py [--pairs 2] [--group 4] [--max-new-tokens 24] [--quick]

``--quick`` (or ``VR_ENV_QUICK=1``): 1 pair, G = 2, 8 new tokens.
"""

from __future__ import annotations

import argparse
import os
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--group", type=int, default=4, help="G: episodes per pair")
    parser.add_argument("--max-new-tokens", type=int, default=24)
    parser.add_argument("--quick", action="store_true", default=os.environ.get("VR_ENV_QUICK") == "1")
    args = parser.parse_args()
    if args.quick:
        args.pairs, args.group, args.max_new_tokens = 1, 2, 8

    from vr_env.commands.extras import require_train_extra

    require_train_extra("examples/04_tiny_vlm_rollouts.py")
    from agents.backends import GenerationSettings
    from agents.backends.transformers_backend import TransformersBackend
    from agents.rollout import RolloutEngine
    from agents.tiny import build_tiny_model
    from vr_env.rewards import group_advantages

    with tempfile.TemporaryDirectory() as folder:
        backend = TransformersBackend.from_pretrained(build_tiny_model("qwen2_5_vl", folder, seed=0), device="cpu")
    engine = RolloutEngine(
        backend,
        env_kwargs={"frames_per_video": 16, "max_tool_calls": 1},
        group_size=args.group,
        settings=GenerationSettings(max_new_tokens=args.max_new_tokens),  # the paper's sampling settings
        seed=0,
    )
    result = engine.run(list(range(args.pairs)))
    print(f"{len(result.episodes)} episodes, {result.generate_calls} generation calls, {result.seconds:.1f} s")
    for group, episodes in result.groups().items():
        advantages = group_advantages([e.score for e in episodes])
        for episode, advantage in zip(episodes, advantages, strict=True):
            turn = episode.turns[0]
            print(
                f"group {group} episode {episode.episode}: {len(episode.turns)} turns, "
                f"prompt {len(turn.prompt_ids or [])} ids, sampled {len(turn.completion_ids or [])} ids, "
                f"mean log-prob {sum(turn.logprobs or [0]) / max(len(turn.logprobs or []), 1):.2f}, "
                f"score {episode.score:.2f}, advantage {advantage:+.2f}"
            )
    print("A random model never follows the protocol: every turn is invalid, so scores are equal and")
    print("advantages are zero. Train it (SFT on good traces first) and they start to differ.")


if __name__ == "__main__":
    main()
