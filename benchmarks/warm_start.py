"""Warm start end to end on CPU: scanner traces -> SFT -> rejection sampling, format rates measured.

A random-init Qwen2.5-VL-shaped model (the tiny tokenizer and processor; ``--hidden``/``--layers``
choose the text model's size, 0 keeps ``vr-env make-tiny-model``'s) is measured greedily on held-out
synthetic pairs before SFT, after SFT on the scanner's cold-start traces, and after one round of
rejection sampling + SFT on its own accepted samples. Reported per stage: format-valid turn rate
(the turn parses without a protocol deviation, the env accepted it, it ended with ``<|im_end|>``),
tool-call turn rate (turns whose tool call was executed), episodes that used the tool, finished,
and were right on every key. Pairs: traces on the first ``--train-pairs``, RS on the next
``--rs-pairs``, evaluation on ``--eval-pairs`` pairs from index 400 on (never trained on).

Environment: the synthetic benchmark with 16 candidate frames per video (N = 32), one tool call
(2 model turns), p = 1, the paper's pixel budgets (112x112 frames, 16 tokens each). SFT and RS
learning rates are far above the paper's 1.5e-6: a random-init model learns nothing at that rate
within a CPU budget. Usage:

    python benchmarks/warm_start.py [--out benchmarks/results] [--work /tmp/warm_start]
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

ENV: dict[str, Any] = {"frames_per_video": 16, "max_tool_calls": 1}
EVAL_START = 400


def build_model(out: Path, hidden: int, layers: int, seed: int = 0) -> Path:
    """The tiny Qwen2.5-VL checkpoint, optionally with a larger text model (random init)."""
    from agents.tiny import build_tiny_model

    return build_tiny_model("qwen2_5_vl", out, seed=seed, hidden_size=hidden or 64, num_layers=layers)


def measure(model_dir: Path, pairs: list[int], max_new_tokens: int) -> dict[str, Any]:
    """Greedy episodes on ``pairs``: protocol statistics and seconds."""
    from agents.backends import GenerationSettings
    from agents.backends.transformers_backend import TransformersBackend
    from agents.rollout import RolloutEngine
    from agents.train.metrics import protocol_stats

    start = time.perf_counter()
    backend = TransformersBackend.from_pretrained(model_dir, device="cpu")
    engine = RolloutEngine(
        backend, env_kwargs=ENV, group_size=1, settings=GenerationSettings.greedy(max_new_tokens=max_new_tokens)
    )
    result = engine.run(pairs)
    engine.close()
    stats = protocol_stats(result.episodes)
    stats["seconds"] = round(time.perf_counter() - start, 1)
    stats["example_turn"] = result.episodes[0].turns[0].text[:400] if result.episodes else ""
    return stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--work", type=Path, default=Path("/tmp/warm_start"))
    parser.add_argument("--hidden", type=int, default=0, help="text hidden size (0: the default tiny model)")
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--train-pairs", type=int, default=120)
    parser.add_argument("--rs-pairs", type=int, default=24)
    parser.add_argument("--eval-pairs", type=int, default=16)
    parser.add_argument("--sft-epochs", type=float, default=2.0)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--rs-lr", type=float, default=5e-4)
    parser.add_argument("--samples-per-pair", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=384)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep --work's traces and SFT model from an earlier run (measure and RS only)",
    )
    args = parser.parse_args()

    import torch

    from agents.train.config import RejectionConfig, SFTRunConfig
    from agents.train.rejection import train_rs
    from agents.train.sft import SFTResult, train_sft
    from agents.train.traces import TraceReport, build_traces

    torch.set_num_threads(args.threads)
    reuse = args.reuse and (args.work / "sft" / "model.safetensors").is_file()
    if args.work.exists() and not reuse:
        shutil.rmtree(args.work)
    args.work.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(args.work / "rs", ignore_errors=True)
    eval_pairs = list(range(EVAL_START, EVAL_START + args.eval_pairs))
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = round(now - clock, 1)
        clock = now
        print(f"[{name}] {timings[name]} s", flush=True)

    base = args.work / "base" if reuse else build_model(args.work / "base", args.hidden, args.layers)
    if reuse:
        traces = TraceReport(
            **{k: v for k, v in _read(args.work / "traces" / "report.json").items() if k != "kept_rate"}
        )
    else:
        traces = build_traces("scanner", ENV, out_dir=args.work / "traces", limit=args.train_pairs, progress=False)
    lap("traces")
    before = measure(base, eval_pairs, args.max_new_tokens)
    lap("measure before SFT")
    sft_config = SFTRunConfig(
        learning_rate=args.lr, warmup_ratio=0.1, gradient_accumulation_steps=2, num_train_epochs=args.sft_epochs,
        save_steps=10_000, logging_steps=5, torch_threads=args.threads,
    )  # fmt: skip
    if reuse:
        sft = SFTResult(**_read(args.work / "sft" / "train_report.json"))
    else:
        sft = train_sft(base, args.work / "traces" / "traces.jsonl", args.work / "sft", sft_config, verbose=False)
    lap("SFT (reused from an earlier run)" if reuse else "SFT")
    after_sft = measure(args.work / "sft", eval_pairs, args.max_new_tokens)
    lap("measure after SFT")
    rs_config = RejectionConfig(
        samples_per_pair=args.samples_per_pair, max_per_pair=2, limit=args.rs_pairs, offset=args.train_pairs,
        max_new_tokens=args.max_new_tokens, seed=1,
    )  # fmt: skip
    rs_sft = SFTRunConfig(
        learning_rate=args.rs_lr, warmup_ratio=0.1, gradient_accumulation_steps=4, num_train_epochs=1.0,
        save_steps=10_000, logging_steps=5, torch_threads=args.threads,
    )  # fmt: skip
    from agents.train.rejection import REPORT_FILE, RejectionReport

    stages = {"before SFT": before, "after SFT": after_sft}
    try:
        rs_report, rs_result = train_rs(
            args.work / "sft", ENV, args.work / "rs", rs_config, rs_sft, device="cpu", verbose=False
        )
        rs_examples, rs_losses = rs_result.examples, rs_result.losses()
        lap("RS (sampling + SFT)")
        stages["after RS"] = measure(args.work / "rs", eval_pairs, args.max_new_tokens)
        lap("measure after RS")
    except ValueError as error:  # nothing accepted: report it, no third stage
        print(f"RS: {error}", flush=True)
        data = json.loads((args.work / "rs" / "samples" / REPORT_FILE).read_text())
        rs_report = RejectionReport(checkpoint=data["checkpoint"], pairs=data["pairs"], samples=data["samples"])
        rs_report.pairs_without_accepted = data["pairs_without_accepted"]
        rs_examples, rs_losses = 0, []
        lap("RS (sampling, nothing accepted)")

    losses = sft.losses() or [float("nan")]
    result = {
        "machine": f"{platform.machine()} CPU, {os.cpu_count()} cores shared with other jobs, no GPU; torch threads {args.threads}",
        "command": "python benchmarks/warm_start.py "
        + " ".join(
            f"--{k.replace('_', '-')}" + ("" if isinstance(v, bool) else f" {v}")
            for k, v in vars(args).items()
            if k not in ("out", "work") and v is not False
        ),
        "env": ENV,
        "model": {"hidden": args.hidden or 64, "layers": args.layers if args.hidden else 2},
        "traces": traces.to_dict(),
        "sft": {"examples": sft.examples, "loss_first": losses[0], "loss_last": losses[-1], "losses": losses},
        "rs": {**rs_report.to_dict(), "sft_examples": rs_examples, "sft_losses": rs_losses},
        "eval_pairs": [eval_pairs[0], eval_pairs[-1]],
        "stages": stages,
        "seconds": timings,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "warm_start.json").write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    (args.out / "warm_start.md").write_text(render(result), encoding="utf-8")
    print(render(result))


def _read(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text(encoding="utf-8")))


def render(result: dict[str, Any]) -> str:
    rows = [
        "| stage | format-valid turns | tool-call turns | episodes using the tool | finished | all keys right |",
        "|---|---|---|---|---|---|",
    ]
    for name, s in result["stages"].items():
        rows.append(
            f"| {name} | {100 * s['format_valid_turn_rate']:.1f} % ({s['turns']} turns) | "
            f"{100 * s['tool_call_turn_rate']:.1f} % | {100 * s['episode_tool_use_rate']:.1f} % | "
            f"{100 * s['finished_rate']:.1f} % | {100 * s['correct_rate']:.1f} % |"
        )
    t, rs, sft = result["traces"], result["rs"], result["sft"]
    return "\n".join(
        [
            "# Warm start on CPU: format rates before SFT, after SFT, after RS",
            "",
            f"Machine: {result['machine']}.",
            "",
            f"Command: `{result['command']}`",
            "",
            f"Model: random-init Qwen2.5-VL shape, text hidden {result['model']['hidden']}, "
            f"{result['model']['layers']} layers (tiny tokenizer and processor). Env: {result['env']} on the "
            f"synthetic benchmark; greedy evaluation on held-out pairs {result['eval_pairs'][0]}-{result['eval_pairs'][1]}.",
            "",
            *rows,
            "",
            f"- Cold-start traces (scanner teacher): {t['kept']} kept of {t['episodes']} "
            f"({100 * t['kept_rate']:.1f} %); rejections {t['rejected']}.",
            f"- SFT: {sft['examples']} turns, loss {sft['loss_first']:.3f} -> {sft['loss_last']:.3f}.",
            f"- RS: {rs['accepted']} of {rs['samples']} samples accepted ({100 * rs['acceptance_rate']:.1f} %), "
            f"{rs['duplicates']} duplicates, {rs['pairs_without_accepted_count']} of {rs['pairs']} pairs without an "
            f"accepted trace; per-key accuracy of the samples {json.dumps({k: round(v, 3) for k, v in rs['dimension_accuracy'].items()})}; "
            f"SFT on {rs['sft_examples']} sampled turns.",
            f"- Seconds per stage: {result['seconds']}.",
            "",
        ]
    )


if __name__ == "__main__":
    main()
