"""PPO (Stable-Baselines3) on the toy settings of ``VRJudgeSB3-v0``: held-out accuracy before and after training.

For each run ``toy:extractor`` (toys: ``agents.sb3.TOY_SETTINGS``; extractors: ``slot`` =
``agents.sb3.SlotCNN``, ``nature`` = SB3's default ``NatureCNN``), PPO ``MultiInputPolicy`` trains
for a fixed number of timesteps on synthetic pairs of generator seed 0 (4 envs, fixed seeds, one
torch thread) and is evaluated, with its deterministic action, on the first ``--eval-pairs`` pairs
of generator seed 1 (held out) before and after training. Reference rows on the same pairs: uniformly
random actions (seeded; the random-answer reference, exact expectation 1/3 per key) and the constant
answer "tie everywhere, at once".

    python benchmarks/sb3_toy.py [--timesteps 10000] [--eval-pairs 200] [--runs noise:slot noise:nature localized-noise:slot] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections import Counter
from pathlib import Path
from typing import Any

import torch
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env

from agents.sb3 import (
    TOY_SETTINGS,
    constant_policy,
    evaluate_judge,
    make_sb3_env,
    random_policy,
    toy_env_kwargs,
    toy_ppo_kwargs,
)
from vr_env.data.records import LABEL_KEYS, PairRecord
from vr_env.data.synthetic import labels_from_defects

TRAIN_SEED, TEST_SEED = 0, 1
DEFAULT_RUNS = ("noise:slot", "noise:nature", "localized-noise:slot")
EXTRACTORS = ("slot", "nature")


def labels_from_frames(records: list[PairRecord], frame_ids: set[int]) -> dict[str, Any]:
    """Accuracy of the labels implied by the defects touching ``frame_ids`` (from the generator's
    metadata): what a judge reading exactly these frames perfectly would answer."""
    hits = dict.fromkeys(LABEL_KEYS, 0)
    for record in records:
        lists = [record.meta["defects"]["video_1"], record.meta["defects"]["video_2"]]
        seen = labels_from_defects(*[[d for d in ds if frame_ids & set(d["frame_ids"])] for ds in lists])
        for key in LABEL_KEYS:
            hits[key] += seen[key] == record.labels[key]
    accuracy = {key: hits[key] / len(records) for key in LABEL_KEYS}
    mean_dims = sum(accuracy[k] for k in LABEL_KEYS if k != "OA") / (len(LABEL_KEYS) - 1)
    return {"accuracy": accuracy, "return_mean": 1 + 0.5 * accuracy["OA"] + 0.5 * mean_dims, "tool_calls_mean": 0.0}


def run_toy(toy: str, extractors: list[str], timesteps: int, eval_pairs: int, train_pairs: int, seed: int) -> dict:
    """Reference rows, then PPO before / after training for each extractor."""
    test_env = make_sb3_env(**toy_env_kwargs(toy, eval_pairs, TEST_SEED))
    records = list(test_env.unwrapped.dataset)  # type: ignore[attr-defined]
    labels = [record.labels for record in records]
    rows: dict[str, Any] = {
        "random actions": evaluate_judge(random_policy(test_env.action_space, seed), test_env, eval_pairs),
        "tie everywhere": evaluate_judge(constant_policy([0] * 5), test_env, eval_pairs),
        "labels from the initial frames": labels_from_frames(
            records, set(test_env.config.protocol.initial_frame_ids())
        ),
    }
    if 0 < test_env.segments <= test_env.config.max_tool_calls:
        scanned = set(test_env.config.protocol.initial_frame_ids()).union(*test_env.segment_frames)
        rows["labels from the initial frames + every segment"] = labels_from_frames(records, scanned) | {
            "tool_calls_mean": float(test_env.segments)
        }
    for extractor in extractors:
        vec = make_vec_env(make_sb3_env, n_envs=4, seed=seed, env_kwargs=toy_env_kwargs(toy, train_pairs, TRAIN_SEED))
        model = PPO("MultiInputPolicy", vec, seed=seed, verbose=0, **toy_ppo_kwargs(extractor))

        def predict(obs: dict, model: PPO = model) -> Any:
            return model.predict(obs, deterministic=True)[0]

        rows[f"PPO {extractor}, before"] = evaluate_judge(predict, test_env, eval_pairs)
        start = time.perf_counter()
        model.learn(timesteps)
        seconds = time.perf_counter() - start
        rows[f"PPO {extractor}, after"] = evaluate_judge(predict, test_env, eval_pairs) | {
            "train_seconds": round(seconds, 1),
            "steps_per_second": round(timesteps / seconds, 1),
        }
        vec.close()
    return {
        "settings": {k: list(v) if isinstance(v, tuple) else v for k, v in TOY_SETTINGS[toy].items()},
        "label_counts": {key: dict(sorted(Counter(lab[key] for lab in labels).items())) for key in LABEL_KEYS},
        "rows": rows,
    }


def markdown(results: dict[str, Any]) -> str:
    setup = results["setup"]
    lines = [
        "# PPO on the VRJudgeSB3-v0 toys",
        "",
        f"`{setup['command']}`: PPO `MultiInputPolicy` (stable-baselines3 {setup['sb3']}, torch {setup['torch']}, "
        f"1 thread), {setup['timesteps']} timesteps, 4 envs, seed {setup['seed']}, trained on {setup['train_pairs']} "
        f"synthetic pairs (generator seed {TRAIN_SEED}), evaluated with deterministic actions on "
        f"{setup['eval_pairs']} held-out pairs (generator seed {TEST_SEED}). Hyperparameters: "
        "`agents.sb3.toy_ppo_kwargs`. Extractors: `slot` = `agents.sb3.SlotCNN`, `nature` = SB3's default "
        f"`CombinedExtractor` (NatureCNN). Machine: {setup['machine']}. Accuracies in %; return = mean episode "
        "reward (paper reward: format + accuracy + CoT gain; the wrapper never breaks the format, so 1 + accuracy "
        "for an episode without tool calls, maximum 2; after tool calls the CoT gain 0.2 * (accuracy of the final "
        "answer - accuracy of the first provisional one) adds between -0.2 and +0.2).",
        "",
    ]
    for toy, block in results["toys"].items():
        counts = ", ".join(f"{k} {v}" for k, v in block["label_counts"]["VQ"].items())
        lines += [
            f"## {toy}",
            "",
            f"Held-out VQ labels (0 tie / 1 video 1 / 2 video 2): {counts}; OA = VQ, TA = MQ = tie.",
            "",
            "| policy | return | VQ | OA | TA | MQ | tool calls | train s | steps/s |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for name, row in block["rows"].items():
            acc = row["accuracy"]
            train = f"{row['train_seconds']:.0f} | {row['steps_per_second']:.0f}" if "train_seconds" in row else " | "
            lines.append(
                f"| {name} | {row['return_mean']:.3f} | {100 * acc['VQ']:.1f} | {100 * acc['OA']:.1f} | "
                f"{100 * acc['TA']:.1f} | {100 * acc['MQ']:.1f} | {row['tool_calls_mean']:.2f} | {train} |"
            )
        lines.append("")
    lines += [
        "Random-answer reference: the expected accuracy of uniformly random answers is 33.3 % per key and the",
        "expected return 1.333; the `random actions` row is one seeded draw of it. `labels from ...` rows",
        "come from the generator's metadata: the labels implied by the defects that the initial frames (and, for the",
        "second row, the frames of every segment) touch, i.e. what a judge reading exactly those frames perfectly",
        "would answer (returns without the CoT term). Tool calls: mean executed `select_frames` calls per episode.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timesteps", type=int, default=10000, help="PPO timesteps per run (10000)")
    parser.add_argument("--eval-pairs", type=int, default=200, help="held-out pairs (200)")
    parser.add_argument("--train-pairs", type=int, default=4096, help="training pairs (4096)")
    parser.add_argument(
        "--runs", nargs="+", default=list(DEFAULT_RUNS), help="toy:extractor pairs (" + " ".join(DEFAULT_RUNS) + ")"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    plan: dict[str, list[str]] = {}
    for run in args.runs:
        toy, _, extractor = run.partition(":")
        if toy not in TOY_SETTINGS or extractor not in EXTRACTORS:
            parser.error(
                f"run {run!r} must be toy:extractor with toy in {sorted(TOY_SETTINGS)}, extractor in {EXTRACTORS}"
            )
        plan.setdefault(toy, []).append(extractor)
    torch.set_num_threads(1)
    import stable_baselines3

    command = f"python benchmarks/sb3_toy.py --timesteps {args.timesteps} --runs {' '.join(args.runs)}"
    results = {
        "setup": {
            "command": command,
            "timesteps": args.timesteps,
            "eval_pairs": args.eval_pairs,
            "train_pairs": args.train_pairs,
            "seed": args.seed,
            "runs": args.runs,
            "sb3": stable_baselines3.__version__,
            "torch": torch.__version__.split("+")[0],
            "machine": f"{platform.processor() or platform.machine()}, Python {platform.python_version()}",
        },
        "toys": {
            toy: run_toy(toy, extractors, args.timesteps, args.eval_pairs, args.train_pairs, args.seed)
            for toy, extractors in plan.items()
        },
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "sb3_toy.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    (args.out / "sb3_toy.md").write_text(markdown(results), encoding="utf-8")
    print(markdown(results))


if __name__ == "__main__":
    main()
