"""Judge serving: dynamic batching vs one-at-a-time, throughput and latency side by side.

The tiny Qwen2.5-VL model (agents.tiny, CPU) is served in-process by ``agents.judge.server`` on
127.0.0.1 and hit by ``--clients`` concurrent :class:`agents.judge.client.JudgeClient` threads, each
sending ``--requests`` / ``--clients`` single-comparison requests (inline 8-frame npy videos; every
prompt is distinct, so the cache never answers). Judge turns are forced to a scripted final answer
with ``--answer-tokens`` tokens of reasoning (``--demo-answer`` style: forward passes, decoding,
parsing and the answer-distribution pass stay real). Two server settings, same process, interleaved:

- ``batched``: ``max_batch = --clients`` (concurrent requests join one generation batch);
- ``one-at-a-time``: ``max_batch = 1``;
- ``1 client``: the batched server, one client sending ``--single-requests`` requests in turn;
- ``back-pressure``: the batched server with ``max_queue = --clients / 4``: the clients get 429s and
  retry (``JudgeClient`` backoff); every request must still be answered.

The figures of the previous version (``serve.json`` before this run) are kept in the new record and
shown beside the new ones. Usage: ``python benchmarks/serve.py [--clients 16] [--requests 32]
[--repeats 1] [--out benchmarks/results]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def measure(
    judge: Any, videos: list[Any], max_batch: int, clients: int, requests: int, tag: str, max_queue: int = 512
) -> dict[str, Any]:
    from agents.judge.client import JudgeClient
    from agents.judge.config import ServeConfig
    from agents.judge.server import serve_in_thread

    config = ServeConfig(max_batch=max_batch, batch_wait_ms=30, cache_entries=0, max_queue=max_queue)
    with serve_in_thread(judge, config) as url:
        return _measure(JudgeClient(url, timeout=600, retries=50), videos, clients, requests, tag)


def _measure(client: Any, videos: list[Any], clients: int, requests: int, tag: str) -> dict[str, Any]:

    def one(index: int) -> float:
        began = time.perf_counter()
        verdict = client.compare(
            videos[index % len(videos)], videos[(index + 1) % len(videos)], f"{tag} prompt {index}"
        )
        assert verdict.ok, verdict.reason
        return time.perf_counter() - began

    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        latencies = sorted(pool.map(one, range(requests)))
    seconds = time.perf_counter() - began
    metrics = client.metrics()
    return {
        "seconds": seconds,
        "comparisons_per_s": requests / seconds,
        "latency_p50": statistics.median(latencies),
        "latency_p99": latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
        "batches": metrics["vr_judge_batches"],
        "mean_batch": metrics["vr_judge_batch_size_mean"],
        "max_batch": metrics["vr_judge_batch_size_max"],
        "generate_calls": metrics["vr_judge_generate_calls"],
        "rejected_429": metrics["vr_judge_rejected"],
        "answered": len(latencies),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=32)
    parser.add_argument("--single-requests", type=int, default=8, help="requests of the 1-client run")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--answer-tokens", type=int, default=120, help="approximate reasoning length of the answer")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"))
    parser.add_argument(
        "--previous",
        action="append",
        default=[],
        metavar="JSON",
        help="earlier serve.json record(s) to show beside this run (default: the serve.json in --out)",
    )
    args = parser.parse_args()

    import numpy as np
    import torch
    import transformers

    from agents.judge.judge import Judge, JudgeConfig
    from agents.tiny import build_tiny_model

    out = Path(args.out)
    sources = [Path(p) for p in args.previous] or [out / "serve.json"]
    previous = [json.loads(path.read_text()) for path in sources if path.is_file()]
    for record in previous:  # keep the figures of the versions before, not older ones
        record.pop("previous", None)
        record.pop("runs", None)
    torch.set_num_threads(args.threads)
    words = " ".join(["smooth"] * max(1, args.answer_tokens))
    answer = f"<Snapshot>{words}</Snapshot><Think>v1 better</Think><Answer>TA=1, VQ=1, MQ=0, OA=1</Answer>"
    n = args.clients
    settings = {
        f"batched, {n} clients": (n, n, args.requests, 512),
        f"one-at-a-time, {n} clients": (1, n, args.requests, 512),
        "batched, 1 client": (n, 1, args.single_requests, 512),
        f"back-pressure (max_queue {max(1, n // 4)}), {n} clients": (n, n, args.requests, max(1, n // 4)),
    }
    with tempfile.TemporaryDirectory() as tmp:
        model = build_tiny_model("qwen2_5_vl", Path(tmp) / "tiny", seed=0)
        config = JudgeConfig(max_new_tokens=8, env={"frames_per_video": 16})
        judge = Judge.from_pretrained(model, device="cpu", config=config, script=lambda record, turn: answer)
        rng = np.random.default_rng(0)
        videos = [rng.integers(0, 255, (8, 64, 80, 3), dtype=np.uint8) for _ in range(6)]
        judge.compare(videos[0], videos[1], "warm-up")
        runs: dict[str, list[dict[str, Any]]] = {m: [] for m in settings}
        for repeat in range(args.repeats):
            for mode, (max_batch, clients, requests, queue) in settings.items():
                runs[mode].append(measure(judge, videos, max_batch, clients, requests, f"{mode}{repeat}", queue))
        judge.close()
    summary = {mode: {key: statistics.median(r[key] for r in rows) for key in rows[0]} for mode, rows in runs.items()}
    base = summary[f"one-at-a-time, {n} clients"]["comparisons_per_s"]
    for values in summary.values():
        values["speed_up"] = values["comparisons_per_s"] / base
    machine = f"{os.cpu_count()}-core CPU (shared with other jobs), no GPU, {platform.python_version()}"
    versions = f"torch {torch.__version__}, transformers {transformers.__version__}"
    command = (
        f"python benchmarks/serve.py --clients {n} --requests {args.requests} --single-requests "
        f"{args.single_requests} --repeats {args.repeats} --answer-tokens {args.answer_tokens} --threads {args.threads}"
    )
    out.mkdir(parents=True, exist_ok=True)
    record = {
        "command": command,
        "machine": machine,
        "versions": versions,
        "summary": summary,
        "runs": runs,
        "previous": previous,
    }
    (out / "serve.json").write_text(json.dumps(record, indent=2) + "\n")
    lines = [
        "# Judge serving: dynamic batching vs one-at-a-time",
        "",
        f"Generated by `{command}` on a {machine}; {versions}; {args.threads} torch thread(s). Tiny qwen2_5_vl",
        "judge (agents.tiny, float32, CPU) served in-process on 127.0.0.1; concurrent clients send",
        "single-comparison requests (inline 8-frame 64x80 npy videos, distinct prompts, cache off).",
        "Judge turns are forced to one final answer of about "
        f"{args.answer_tokens} reasoning tokens (real forward passes),",
        "plus the answer-distribution forward pass. The settings run one after another in one process.",
        "",
        "| server | requests | seconds | comparisons/s | latency p50 (s) | latency p99 (s) | batches | mean batch | max batch | 429s | speed-up |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for mode, v in summary.items():
        lines.append(
            f"| {mode} | {v['answered']:.0f} | {v['seconds']:.2f} | {v['comparisons_per_s']:.2f} | {v['latency_p50']:.2f} | "
            f"{v['latency_p99']:.2f} | {v['batches']:.0f} | {v['mean_batch']:.1f} | {v['max_batch']:.0f} | "
            f"{v['rejected_429']:.0f} | {v['speed_up']:.2f}x |"
        )
    for earlier in previous:
        lines += [
            "",
            f"Before this version: `{earlier.get('command', '?')}` ({earlier.get('note', 'committed figures')};",
            "p95, not p99, was recorded then):",
            "",
            "| server | seconds | comparisons/s | latency p50 (s) | latency p95 (s) | batches | mean batch | speed-up |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for mode, v in earlier.get("summary", {}).items():
            lines.append(
                f"| {mode} | {v['seconds']:.2f} | {v['comparisons_per_s']:.2f} | {v['latency_p50']:.2f} | "
                f"{v.get('latency_p95', float('nan')):.2f} | {v['batches']:.0f} | {v['mean_batch']:.1f} | "
                f"{v['speed_up']:.2f}x |"
            )
    lines += [
        "",
        "The back-pressure run admits a request only while fewer than max_queue comparisons wait; refused",
        "clients get 429 with Retry-After and retry (JudgeClient), and every request is answered (429s counted).",
        "The machine is shared with other jobs (other sessions' tests ran at the same time), so absolute",
        "figures vary between runs; compare settings within one run. Not measured on a GPU.",
    ]
    (out / "serve.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
