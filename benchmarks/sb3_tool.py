"""Does PPO discover the tool? The ``find-noise`` toy of ``VRJudgeSB3-v0``: learning curve and references.

Pairs with one localized noise window per noisy video (``agents.sb3.TOY_SETTINGS["find-noise"]``):
the initial frames (one per video) rarely show the defect; fetching both segments shows all of it.
PPO ``MultiInputPolicy`` with ``agents.sb3.VideoPoolCNN`` trains on pairs of generator seed 0 (4 envs,
fixed seeds, one torch thread, the paper's exploration term as a training-only shaping) and is
evaluated with deterministic actions on held-out pairs of generator seed 1 every ``--eval-every``
steps. References on the same held-out pairs:

- random actions (seeded) and "tie everywhere";
- the best judge that reads only the initial frames, given perfect perception: for each pattern
  (defect seen in video 1's initial frame, in video 2's) the most frequent label among the TRAINING
  pairs (from the generator's metadata), applied to the held-out pairs; no judge reading only the
  initial frames can beat it on average;
- scripted noise readers on the wrapper's own observation (``agents.sb3.scripted``): answer from the
  initial frames at once, or fetch both segments first.

    python benchmarks/sb3_tool.py [--timesteps 12288] [--eval-every 1024] [--eval-pairs 200] [--out benchmarks/results]
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
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env

from agents.sb3 import (
    TOY_SETTINGS,
    TOY_TRAINING,
    constant_policy,
    evaluate_judge,
    make_toy_env,
    random_policy,
    toy_ppo_kwargs,
)
from agents.sb3.scripted import noise_reader
from vr_env.data.records import LABEL_KEYS, PairRecord

TOY = "find-noise"
TRAIN_SEED, TEST_SEED = 0, 1


def seen_pattern(record: PairRecord, frame_ids: set[int]) -> tuple[bool, bool]:
    """Whether a defect of video 1, and of video 2, touches ``frame_ids`` (generator metadata)."""
    defects = record.meta["defects"]
    return tuple(any(frame_ids & set(d["frame_ids"]) for d in defects[f"video_{v}"]) for v in (1, 2))  # type: ignore[return-value]


def best_initial_judge(train: list[PairRecord], test: list[PairRecord], frame_ids: set[int]) -> dict[str, Any]:
    """The Bayes rule "most frequent training label per seen-defect pattern", scored on ``test``."""
    table: dict[tuple[bool, bool], dict[str, int]] = {}
    counts: dict[tuple[bool, bool], dict[str, Counter]] = {}
    for record in train:
        per_key = counts.setdefault(seen_pattern(record, frame_ids), {k: Counter() for k in LABEL_KEYS})
        for key in LABEL_KEYS:
            per_key[key][record.labels[key]] += 1
    for pattern, per_key in counts.items():
        table[pattern] = {key: per_key[key].most_common(1)[0][0] for key in LABEL_KEYS}
    fallback = {key: 0 for key in LABEL_KEYS}
    hits = dict.fromkeys(LABEL_KEYS, 0)
    for record in test:
        answer = table.get(seen_pattern(record, frame_ids), fallback)
        for key in LABEL_KEYS:
            hits[key] += answer[key] == record.labels[key]
    accuracy = {key: hits[key] / len(test) for key in LABEL_KEYS}
    dims = sum(accuracy[k] for k in LABEL_KEYS if k != "OA") / (len(LABEL_KEYS) - 1)
    return {
        "accuracy": accuracy,
        "return_mean": 1 + 0.5 * accuracy["OA"] + 0.5 * dims,
        "tool_calls_mean": 0.0,
        "table": {f"{int(a)}{int(b)}": answer for (a, b), answer in sorted(table.items())},
    }


class CurveCallback(BaseCallback):
    """Evaluates the deterministic policy on the held-out pairs every ``every`` timesteps (evaluation
    time is not counted as training time), appending points to ``curve``."""

    def __init__(self, predict: Any, env: Any, pairs: int, every: int, curve: list[dict[str, Any]]) -> None:
        super().__init__()
        self.predict, self.env, self.pairs, self.every, self.curve = predict, env, pairs, every, curve
        self.next_at, self.seconds, self.started = every, 0.0, 0.0

    def _on_training_start(self) -> None:
        self.started = time.perf_counter()

    def _on_step(self) -> bool:
        if self.num_timesteps >= self.next_at:
            self.seconds += time.perf_counter() - self.started
            point = summary(evaluate_judge(self.predict, self.env, self.pairs))
            self.curve.append({"timesteps": self.num_timesteps, "train_seconds": round(self.seconds, 1), **point})
            acc = point["accuracy"]
            print(
                f"{self.num_timesteps:>6} steps {self.seconds:6.0f} s: VQ {acc['VQ']:.3f} OA {acc['OA']:.3f} "
                f"tool calls {point['tool_calls_mean']:.2f}",
                flush=True,
            )
            self.next_at += self.every
            self.started = time.perf_counter()
        return True


def summary(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in ("return_mean", "accuracy", "tool_calls_mean")}


def run(timesteps: int, eval_every: int, eval_pairs: int, train_pairs: int, seed: int) -> dict[str, Any]:
    test_env = make_toy_env(TOY, eval_pairs, TEST_SEED)
    test_records = list(test_env.unwrapped.dataset)  # type: ignore[attr-defined]
    train_records = list(make_toy_env(TOY, train_pairs, TRAIN_SEED).unwrapped.dataset)  # type: ignore[attr-defined]
    initial = set(test_env.unwrapped.config.protocol.initial_frame_ids())  # type: ignore[attr-defined]
    references = {
        "random actions": summary(evaluate_judge(random_policy(test_env.action_space, seed), test_env, eval_pairs)),
        "tie everywhere": summary(evaluate_judge(constant_policy([0] * 5), test_env, eval_pairs)),
        "best initial-frames judge (perfect perception, Bayes rule from training labels)": best_initial_judge(
            train_records, test_records, initial
        ),
        "scripted noise reader, initial frames only": summary(
            evaluate_judge(noise_reader(fetch=False), test_env, eval_pairs)
        ),
        "scripted noise reader, fetches both segments first": summary(
            evaluate_judge(noise_reader(fetch=True), test_env, eval_pairs)
        ),
    }
    vec = make_vec_env(
        make_toy_env,
        n_envs=4,
        seed=seed,
        env_kwargs={"name": TOY, "n": train_pairs, "seed": TRAIN_SEED, "training": True},
    )
    model = PPO("MultiInputPolicy", vec, seed=seed, verbose=0, **toy_ppo_kwargs("pool"))

    def predict(obs: dict) -> Any:
        return model.predict(obs, deterministic=True)[0]

    curve = [{"timesteps": 0, "train_seconds": 0.0, **summary(evaluate_judge(predict, test_env, eval_pairs))}]
    model.learn(timesteps, callback=CurveCallback(predict, test_env, eval_pairs, eval_every, curve))
    shaping = {
        "training_episodes": sum(len(rewards) for rewards in vec.env_method("get_episode_rewards")),
        "bonus_paid_episodes": int(sum(vec.get_attr("paid_episodes"))),
        "bonus_paid_total": round(float(sum(vec.get_attr("paid_total"))), 3),
    }
    vec.close()
    final = evaluate_judge(predict, test_env, eval_pairs)
    labels = Counter(r.labels["VQ"] for r in test_records)
    return {
        "references": references,
        "curve": curve,
        "final": final,
        "exploration_bonus": shaping,
        "label_counts_vq": {str(k): labels[k] for k in sorted(labels)},
    }


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curve = results["curve"]
    steps = [p["timesteps"] for p in curve]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    left.plot(steps, [100 * p["accuracy"]["VQ"] for p in curve], "o-", color="C0", label="PPO + VideoPoolCNN (VQ = OA)")
    refs = results["references"]
    styles = {
        "scripted noise reader, fetches both segments first": ("C2", "--", "scripted: fetch both segments, then read"),
        "best initial-frames judge (perfect perception, Bayes rule from training labels)": (
            "C3",
            "--",
            "best initial-frames judge (perfect perception)",
        ),
        "tie everywhere": ("grey", ":", "tie everywhere"),
    }
    for name, (colour, style, label) in styles.items():
        left.axhline(100 * refs[name]["accuracy"]["VQ"], color=colour, linestyle=style, label=label)
    left.set_xlabel("PPO timesteps")
    left.set_ylabel("held-out VQ accuracy (%)")
    left.set_ylim(0, 105)
    left.legend(fontsize=7, loc="lower right")
    right.plot(steps, [p["tool_calls_mean"] for p in curve], "o-", color="C1")
    right.set_xlabel("PPO timesteps")
    right.set_ylabel("tool calls per episode (held-out, deterministic)")
    right.set_ylim(-0.05, 2.1)
    setup = results["setup"]
    fig.suptitle(f"find-noise toy: PPO learns to fetch ({setup['eval_pairs']} held-out pairs, seed {setup['seed']})")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def markdown(results: dict[str, Any]) -> str:
    setup = results["setup"]
    lines = [
        "# Does PPO discover the tool? (find-noise toy)",
        "",
        f"`{setup['command']}`: PPO `MultiInputPolicy` (stable-baselines3 {setup['sb3']}, torch {setup['torch']}, "
        f"1 thread) with `agents.sb3.VideoPoolCNN`, `toy_ppo_kwargs('pool')`, 4 envs, seed {setup['seed']}, "
        f"trained on {setup['train_pairs']} synthetic pairs (generator seed {TRAIN_SEED}) with the training-only "
        f"shaping {json.dumps(TOY_TRAINING[TOY])}; evaluated with deterministic actions on {setup['eval_pairs']} "
        f"held-out pairs (generator seed {TEST_SEED}; VQ labels tie/1/2: "
        f"{', '.join(f'{k}: {v}' for k, v in results['label_counts_vq'].items())}). Machine: {setup['machine']}, "
        f"2 cores shared with other jobs; {setup['total_seconds']:.0f} s in all. Reward: paper weights with the "
        "CoT-gain term off, so return = 1 + accuracy (format always 1 through the wrapper), maximum 2. "
        "OA = VQ and TA = MQ = tie on this toy. Accuracies in %.",
        "",
        "| policy | return | VQ | OA | TA | MQ | tool calls |",
        "|---|---|---|---|---|---|---|",
    ]
    rows = dict(results["references"])
    rows[f"**PPO + VideoPoolCNN after {setup['timesteps']} steps ({results['curve'][-1]['train_seconds']:.0f} s)**"] = (
        results["final"]
    )
    for name, row in rows.items():
        acc = row["accuracy"]
        lines.append(
            f"| {name} | {row['return_mean']:.3f} | {100 * acc['VQ']:.1f} | {100 * acc['OA']:.1f} | "
            f"{100 * acc['TA']:.1f} | {100 * acc['MQ']:.1f} | {row['tool_calls_mean']:.2f} |"
        )
    lines += [
        "",
        "Learning curve (held-out, deterministic actions; `sb3_tool.png`):",
        "",
        "| timesteps | train s | return | VQ | tool calls |",
        "|---|---|---|---|---|",
    ]
    for p in results["curve"]:
        lines.append(
            f"| {p['timesteps']} | {p['train_seconds']:.0f} | {p['return_mean']:.3f} | "
            f"{100 * p['accuracy']['VQ']:.1f} | {p['tool_calls_mean']:.2f} |"
        )
    shaping = results["exploration_bonus"]
    lines += [
        "",
        f"Exploration term during training: paid in {shaping['bonus_paid_episodes']} of "
        f"{shaping['training_episodes']} training episodes, {shaping['bonus_paid_total']} in all.",
    ]
    table = results["references"]["best initial-frames judge (perfect perception, Bayes rule from training labels)"]
    lines += [
        "",
        "Best initial-frames judge: answers per pattern (defect seen in video 1's / video 2's initial frame) "
        f"learned from the training pairs: {json.dumps(table['table'])}.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timesteps", type=int, default=12288, help="PPO timesteps (12288)")
    parser.add_argument("--eval-every", type=int, default=1024, help="timesteps between curve points (1024)")
    parser.add_argument("--eval-pairs", type=int, default=200, help="held-out pairs (200)")
    parser.add_argument("--train-pairs", type=int, default=4096, help="training pairs (4096)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    import stable_baselines3

    started = time.perf_counter()
    results = run(args.timesteps, args.eval_every, args.eval_pairs, args.train_pairs, args.seed)
    results["setup"] = {
        "command": f"python benchmarks/sb3_tool.py --timesteps {args.timesteps} --eval-every {args.eval_every} "
        f"--eval-pairs {args.eval_pairs} --train-pairs {args.train_pairs} --seed {args.seed}",
        "timesteps": args.timesteps,
        "eval_pairs": args.eval_pairs,
        "train_pairs": args.train_pairs,
        "seed": args.seed,
        "settings": {k: list(v) if isinstance(v, tuple) else v for k, v in TOY_SETTINGS[TOY].items()},
        "sb3": stable_baselines3.__version__,
        "torch": torch.__version__.split("+")[0],
        "machine": f"{platform.processor() or platform.machine()}, Python {platform.python_version()}",
        "total_seconds": round(time.perf_counter() - started, 1),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "sb3_tool.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    (args.out / "sb3_tool.md").write_text(markdown(results), encoding="utf-8")
    plot(results, args.out / "sb3_tool.png")
    print(markdown(results))


if __name__ == "__main__":
    main()
