"""GRPO alone against controls: held-out diff and training reward over the steps.

Starts the windowed GRPO trainer from a checkpoint of the miniature (by default one it makes: the
shipped miniature base cold-started by SFT on a few scanner traces, a judge right on roughly half of
the held-out non-tie pairs) in the miniature's tool-arm environment, and runs it twice with the same
seeds: once at the given learning rate, once with the learning rate set to 0 (the control: same
rollouts at step 0, no update). ``--shuffled-control`` adds a run at the same learning rate whose
advantages are permuted among the trajectories trained on (``shuffle_advantages``): an update of the
same size that carries no reward signal, so the gap to it is what the reward's direction adds.
``--model DIR`` starts from a given checkpoint, e.g. the example's RFT judge
(``runs/mini_vrthinker/tool/rft`` after ``python examples/05_mini_vrthinker.py``); ``--no-tool``
uses the no-tool arm's environment. The trainer's evaluation hook (``eval_every`` / ``eval_pairs``)
plays greedy episodes on the held-out pairs 400.. (never sampled for training); the training reward
is the first-round (before dynamic-sampling refills) mean score of the policy's own trajectories.

    python benchmarks/grpo_learning.py [--steps 16] [--eval-every 4] [--eval-pairs 64] [--lr 6e-5]

16 groups a step (docs/mini-vrthinker.md; the training reward stays above the control's, the held-out
diff falls):

    python benchmarks/grpo_learning.py --start-pairs 200 --start-answer-now 200 --steps 4 --lr 2e-4 \
        --groups-per-step 16 --eval-every 2 --eval-pairs 128 --tag big-steps

The example's GRPO stage against the shuffled control, per arm (docs/mini-vrthinker.md):

    python benchmarks/grpo_learning.py --model runs/mini_vrthinker/tool/rft --steps 2 --groups-per-step 16 \
        --lr 2e-4 --eval-every 2 --eval-pairs 128 --no-control --shuffled-control --tag example-tool

Writes ``benchmarks/results/grpo_learning[-TAG].{json,md,png}``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from agents.pretrain.base import MINI_BASE, MINI_ENV, MINI_PRESET

RESULTS = Path(__file__).parent / "results"
#: Held-out pairs start here (as in examples/05_mini_vrthinker.py).
EVAL_START = 400
#: The run label of the shuffled-advantages control.
SHUFFLED = "shuffled advantages (control)"
#: Control runs and how the report's title names them.
CONTROLS = {"lr 0 (control)": "an lr = 0 control", SHUFFLED: "a shuffled-advantages control"}
#: Flags that are ``store_true`` (written only when set).
STORE_TRUE = ("no_control", "shuffled_control", "no_tool")


def env_kwargs(eval_pairs: int, tool: bool = True) -> dict[str, Any]:
    """The miniature's environment (tool arm, or no-tool arm); the dataset ends with the held-out pairs.

    The trainer holds out the last ``eval_pairs`` pairs, so the run trains on pairs 0-399 like the
    example's GRPO stage and evaluates on the example's held-out pairs.
    """
    dataset = {**MINI_PRESET, "n": EVAL_START + eval_pairs}
    return {**MINI_ENV, "dataset_kwargs": dataset, "max_tool_calls": 1 if tool else 0}


def starting_checkpoint(out: Path, pairs: int, epochs: float, lr: float, threads: int, answer_now: int = 0) -> Path:
    """The shipped base cold-started on ``pairs`` scanner traces (pairs 0..pairs-1).

    ``answer_now``: also the kept traces of the ``answer-now`` teacher (no tool call) on the next
    ``answer_now`` pairs, for a start that calls the tool on some pairs and answers at once on others.
    """
    from agents.train.config import SFTRunConfig
    from agents.train.sft import train_sft
    from agents.train.traces import TRACES_FILE, build_traces

    env = {**MINI_ENV, "dataset_kwargs": {**MINI_PRESET, "n": EVAL_START}, "max_tool_calls": 1}
    build_traces("scanner", env, out_dir=out / "traces", limit=pairs, progress=False)
    if answer_now:
        build_traces("answer-now", env, out_dir=out / "answer_now", limit=pairs + answer_now, progress=False)
        later = [
            line
            for line in (out / "answer_now" / TRACES_FILE).read_text().splitlines()
            if json.loads(line)["pair_index"] >= pairs
        ]
        with (out / "traces" / TRACES_FILE).open("a", encoding="utf-8") as traces:
            traces.writelines(line + "\n" for line in later)
    config = SFTRunConfig(
        learning_rate=lr, warmup_ratio=0.05, gradient_accumulation_steps=2, num_train_epochs=epochs,
        freeze_vision=True, save_steps=100_000, logging_steps=1, torch_threads=threads,
    )  # fmt: skip
    train_sft(MINI_BASE, out / "traces" / "traces.jsonl", out / "start", config, verbose=False)
    return out / "start"


def run(model: Path, out: Path, args: argparse.Namespace, lr: float, shuffle: bool = False) -> list[dict[str, Any]]:
    from agents.train.grpo.config import WindowedGRPOConfig
    from agents.train.grpo.run import run_grpo

    config = WindowedGRPOConfig(
        output_dir=str(out), max_steps=args.steps, num_generations=args.group,
        per_device_train_batch_size=args.group * args.groups_per_step, learning_rate=lr,
        max_completion_length=args.max_new_tokens, env_kwargs=env_kwargs(args.eval_pairs, not args.no_tool), beta=0.0,
        logging_steps=1, save_steps=100_000, report_to=[], use_cpu=True, seed=args.seed,
        max_refill_rounds=args.refill_rounds, eval_every=args.eval_every, eval_pairs=args.eval_pairs,
        lr_scheduler_type="constant", freeze_vision=args.freeze_vision, reward=args.reward,
        shuffle_advantages=shuffle,
    )  # fmt: skip
    run_grpo(config, str(model))
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def _flag(name: str, value: Any) -> str:
    flag = "--" + name.replace("_", "-")
    if isinstance(value, bool):
        return flag if value else ("" if name in STORE_TRUE else "--no-" + flag[2:])
    return f"{flag} {value}"


#: The logged figures the report plots and tabulates.
CURVES = ("eval/diff", "eval/tau", "eval/format_valid_turn_rate", "reward", "rewards/accuracy/mean")


def curves(rows: list[dict[str, Any]]) -> dict[str, list[tuple[int, float]]]:
    return {name: [(r["step"], r[name]) for r in rows if r.get(name) is not None] for name in CURVES}


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = ["eval/diff", "eval/tau", "reward", "rewards/accuracy/mean"]
    figure, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3.2))
    for ax, name in zip(axes, names, strict=True):
        for label, run_ in result["runs"].items():
            points = run_["curves"][name]
            if points:
                ax.plot(*zip(*points, strict=True), marker="o", markersize=3, label=label)
        ax.set_title(name if not name.startswith("eval") else f"held-out {name[5:]} (greedy)", fontsize=9)
        ax.set_xlabel("GRPO step")
    axes[0].legend(fontsize=8)
    figure.suptitle(f"GRPO alone on the miniature ({result['eval_pairs']} held-out pairs)", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def markdown(result: dict[str, Any]) -> str:
    lines = [
        f"# GRPO alone against {' and '.join(CONTROLS[k] for k in result['runs'] if k in CONTROLS) or 'no control'} (same seeds)",
        "",
        f"Command: `{result['command']}` on {result['machine']}; {result['seconds']:.0f} s in all.",
        f"Start: {result['start']}. Environment: the {result.get('arm', 'tool')} arm. "
        f"Held-out: pairs {EVAL_START}-{EVAL_START + result['eval_pairs'] - 1}, greedy.",
        "",
        "| run | step | held-out diff | held-out tau | held-out format-valid turns | training reward (first round) "
        "| training accuracy reward |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, run_ in result["runs"].items():
        c = run_["curves"]
        reward = dict(c["reward"])
        accuracy = dict(c["rewards/accuracy/mean"])
        for step, diff in c["eval/diff"]:
            tau = dict(c["eval/tau"]).get(step)
            valid = dict(c.get("eval/format_valid_turn_rate", [])).get(step)
            r, a = reward.get(step + 1, reward.get(step)), accuracy.get(step + 1, accuracy.get(step))
            lines.append(
                f"| {label} | {step} | {diff:.3f} | {tau:.3f} | {'-' if valid is None else f'{valid:.3f}'} | "
                f"{'-' if r is None else f'{r:.3f}'} | "
                f"{'-' if a is None else f'{a:.3f}'} |"
            )
    lines += ["", "Mean training reward over the steps (first and second half):", ""]
    for label, run_ in result["runs"].items():
        values = [v for _, v in run_["curves"]["reward"]]
        half = len(values) // 2
        if half:
            first, second = sum(values[:half]) / half, sum(values[half:]) / (len(values) - half)
            lines.append(f"- {label}: {first:.3f} -> {second:.3f}")
    labels = list(result["runs"])
    a = dict(result["runs"][labels[0]]["curves"]["reward"])
    for control in labels[1:]:  # same seeds: the same pairs at every step, so the per-step difference is paired
        b = dict(result["runs"][control]["curves"]["reward"])
        diffs = [a[s] - b[s] for s in sorted(a) if s in b and s > 1]  # step 1 is generated before any update
        if diffs:
            lines.append(
                f"- paired, steps 2-{max(a)}: {labels[0]} minus {control} = {sum(diffs) / len(diffs):+.3f} on "
                f"average, positive at {sum(d > 0 for d in diffs)} of {len(diffs)} steps"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="start checkpoint (default: make one)")
    parser.add_argument("--start-pairs", type=int, default=200, help="scanner traces of the made start checkpoint")
    parser.add_argument("--start-epochs", type=float, default=1.5)
    parser.add_argument("--start-lr", type=float, default=1e-3)
    parser.add_argument(
        "--start-answer-now", type=int, default=0,
        help="also SFT on the answer-now teacher's kept traces of the next N pairs (a start that calls the tool less)",
    )  # fmt: skip
    parser.add_argument("--tag", default="", help="result files grpo_learning-TAG.* (default: grpo_learning.*)")
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--lr", type=float, default=6e-5)
    parser.add_argument("--group", type=int, default=8)
    parser.add_argument("--groups-per-step", type=int, default=2)
    parser.add_argument("--refill-rounds", type=int, default=1)
    parser.add_argument("--eval-every", type=int, default=4)
    parser.add_argument("--eval-pairs", type=int, default=64)
    parser.add_argument("--max-new-tokens", type=int, default=320)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reward", default="paper", help="reward preset of the environment: paper or binary")
    parser.add_argument("--freeze-vision", action=argparse.BooleanOptionalAction, default=True,
                        help="freeze the vision tower during GRPO")  # fmt: skip
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-control", action="store_true", help="skip the lr = 0 run")
    parser.add_argument(
        "--shuffled-control", action="store_true",
        help="also run the same learning rate with the advantages shuffled (shuffle_advantages): an update of "
        "the same size with no reward signal",
    )  # fmt: skip
    parser.add_argument("--no-tool", action="store_true", help="the no-tool arm's environment (no tool calls)")
    parser.add_argument("--work", type=Path, default=Path("runs/grpo_learning"))
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    if args.work.exists():
        shutil.rmtree(args.work)
    args.work.mkdir(parents=True)
    if args.model is None:
        model = starting_checkpoint(
            args.work, args.start_pairs, args.start_epochs, args.start_lr, args.threads, args.start_answer_now
        )
        start = f"the shipped base + SFT on {args.start_pairs} scanner traces ({args.start_epochs:g} epoch, lr {args.start_lr:g})"
        if args.start_answer_now:
            start += f" and the answer-now traces of the next {args.start_answer_now} pairs (no tool call)"
    else:
        model, start = args.model, str(args.model)
    runs = {f"lr {args.lr:g}": (args.lr, False)} | ({} if args.no_control else {"lr 0 (control)": (0.0, False)})
    if args.shuffled_control:
        runs[SHUFFLED] = (args.lr, True)
    result: dict[str, Any] = {
        "command": "python benchmarks/grpo_learning.py "
        + " ".join(_flag(k, v) for k, v in vars(args).items() if v not in (None, "") and k not in ("work", "out")),
        "machine": f"{platform.machine()} CPU, torch threads {args.threads}",
        "start": start,
        "eval_pairs": args.eval_pairs,
        "arm": "no-tool" if args.no_tool else "tool",
        "runs": {},
    }
    for label, (lr, shuffle) in runs.items():
        rows = run(model, args.work / ("shuffled" if shuffle else label.split()[1]), args, lr, shuffle)
        result["runs"][label] = {"lr": lr, "shuffle_advantages": shuffle, "curves": curves(rows)}
        print(label, result["runs"][label]["curves"]["eval/diff"], flush=True)
    result["seconds"] = round(time.perf_counter() - started, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    name = f"grpo_learning-{args.tag}" if args.tag else "grpo_learning"
    (args.out / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    (args.out / f"{name}.md").write_text(markdown(result), encoding="utf-8")
    plot(result, args.out / f"{name}.png")
    print(markdown(result))


if __name__ == "__main__":
    main()
