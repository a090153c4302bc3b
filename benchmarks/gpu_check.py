"""The GPU check: one command that tells whether the training and evaluation stack works on an accelerator.

On one H100 it should finish well within 8 minutes (checked: total time <= ``--budget-s``, 480 s):

1. ``setup``: installs the carried wheelhouse offline when TRL / Gymnasium / vr-env are missing
   (``--wheelhouse DIR``; see ``benchmarks/gpu_wheelhouse.py``), prints the versions and the device;
2. ``tiny-model``: builds a tiny random-weight Qwen2.5-VL locally (``agents/tiny.py``; nothing downloaded);
3. ``sft``: bf16 SFT steps on scanner traces (:func:`agents.train.sft.train_sft`): every loss finite,
   the language weights moved;
4. ``grpo``: 3 windowed GRPO steps with ``old_logps="forward"`` and bf16: every step logged with a
   finite loss, and clip ratio 0 on the first micro-batch (gradient accumulation 1, so step 1 is
   exactly the first micro-batch after generation: its old log-probs come from a forward of the same
   weights, so no token may be clipped). The episodes play scripted protocol turns with random
   answers (forced ids, real forward passes; a random tiny model never writes a valid turn), so the
   first group's rewards differ: TRL counts a token as clipped only where its advantage pushes it
   out of the region, so zero advantages would make the check vacuous (then it FAILs);
5. ``zero3``: one GRPO step under DeepSpeed ZeRO-3 on the single GPU (a child process with a
   one-process rendezvous). Skipped, with the reason printed and not counted as a pass, where
   DeepSpeed is not importable or there is no GPU;
6. ``eval-hf``: ``vr-env eval --agent hf`` on the SFT model, one batched generation per turn;
7. ``time-budget`` (GPU only): the whole check within ``--budget-s``.

Each check prints PASS / FAIL / SKIP with its time and peak memory (GPU: ``max_memory_allocated``
of the phase; CPU: the process's peak RSS so far); the exit status is 1 if any check FAILs.
``--device cpu`` is the dry run the test suite executes (tiny sizes, float32: CPU bf16 is slow and
not what is checked; the output says so). Usage:

    python benchmarks/gpu_check.py --build-wheelhouse .whl/gpu_check --with-deepspeed   # once, with network
    python benchmarks/gpu_check.py --wheelhouse .whl/gpu_check --out benchmarks/results   # on the GPU
    python benchmarks/gpu_check.py --device cpu --sft-steps 2 --group 2 --max-new-tokens 8 --eval-pairs 2
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
HERE = Path(__file__).resolve().parent
# This checkout's vr_env / agents come first (the code under test; the carried vr-env wheel is their fallback).
sys.path[:0] = [str(HERE.parent), str(HERE)]
import gpu_wheelhouse  # noqa: E402  (beside this file)

#: Episodes: 16 candidate frames per video, up to 2 tool calls, p = 1.
ENV: dict[str, Any] = {"frames_per_video": 16, "max_tool_calls": 2, "memory_window": 1}
ZERO3: dict[str, Any] = {
    "zero_optimization": {"stage": 3, "stage3_gather_16bit_weights_on_model_save": True},
    "bf16": {"enabled": "auto"},
    "train_micro_batch_size_per_gpu": "auto",
    "gradient_accumulation_steps": "auto",
    "train_batch_size": "auto",
    "gradient_clipping": "auto",
    "zero_allow_untested_optimizer": True,  # torch's AdamW (no compiled DeepSpeed op needed)
}
#: Prefix of the ZeRO-3 child's result line.
ZERO3_MARK = "ZERO3-RESULT "


@dataclass
class Check:
    """One line of the check's verdict."""

    name: str
    status: str  # PASS, FAIL or SKIP
    detail: str
    seconds: float = 0.0
    peak_memory_gib: float | None = None
    numbers: dict[str, Any] = field(default_factory=dict)


class Context:
    """Settings and the results the phases hand each other (model folders)."""

    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args, self.work = args, work
        self.cuda = args.device == "cuda"
        self.dtype = "bfloat16" if self.cuda else "float32"
        self.model_dir: Path | None = None
        self.sft_dir: Path | None = None


def _gpu(cuda: bool) -> bool:
    if not cuda:
        return False
    import torch

    return torch.cuda.is_available()


def _peak_memory(cuda: bool) -> float | None:
    if cuda:
        import torch

        return torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # kB on Linux


def run_phase(name: str, ctx: Context, body: Callable[[Context], tuple[str, str, dict[str, Any]]]) -> Check:
    """Run one phase; an exception is that phase's FAIL, and the next phases still run."""
    if _gpu(ctx.cuda):
        import torch

        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    try:
        status, detail, numbers = body(ctx)
    except Exception as error:  # a broken phase is reported, never a crash of the whole check
        status, detail, numbers = "FAIL", f"{type(error).__name__}: {str(error)[:600]}", {}
    peak = _peak_memory(ctx.cuda)
    check = Check(name, status, detail, time.perf_counter() - start, None if peak is None else round(peak, 3), numbers)
    memory = (
        ""
        if check.peak_memory_gib is None
        else f", peak {'GPU' if ctx.cuda else 'RSS'} {check.peak_memory_gib:.2f} GiB"
    )
    print(f"{check.status:4} {name:12} {check.seconds:7.1f} s{memory}  {detail}", flush=True)
    return check


class StepTimer:
    """A ``TrainerCallback`` (built lazily) recording each optimizer step's seconds."""

    @staticmethod
    def make() -> Any:
        from transformers import TrainerCallback

        class Timer(TrainerCallback):
            def __init__(self) -> None:
                self.seconds: list[float] = []
                self._start = 0.0

            def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
                self._start = time.perf_counter()

            def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
                self.seconds.append(round(time.perf_counter() - self._start, 3))

        return Timer()


def tiny_model(ctx: Context) -> tuple[str, str, dict[str, Any]]:
    from agents.tiny import build_tiny_model

    ctx.model_dir = build_tiny_model("qwen2_5_vl", ctx.work / "tiny", seed=0)
    size = sum(p.stat().st_size for p in ctx.model_dir.glob("*.safetensors"))
    return "PASS", f"tiny Qwen2.5-VL in {ctx.model_dir.name} ({size / 2**20:.1f} MiB of weights)", {"bytes": size}


def sft(ctx: Context) -> tuple[str, str, dict[str, Any]]:
    from safetensors.torch import load_file

    from agents.train.config import SFTRunConfig
    from agents.train.sft import train_sft
    from agents.train.traces import build_traces

    assert ctx.model_dir is not None, "no tiny model"
    traces = ctx.work / "traces"
    build_traces("scanner", {**ENV, "dataset_kwargs": {"n": 8}}, out_dir=traces, limit=2, progress=False)
    steps = ctx.args.sft_steps
    config = SFTRunConfig(
        learning_rate=1e-3, warmup_ratio=0.0, gradient_accumulation_steps=1, max_steps=steps, save_steps=steps + 1,
        bf16=ctx.cuda, use_cpu=not ctx.cuda, seed=0,
    )  # fmt: skip
    timer = StepTimer.make()
    ctx.sft_dir = ctx.work / "sft"
    result = train_sft(ctx.model_dir, traces / "traces.jsonl", ctx.sft_dir, config, callbacks=[timer], verbose=False)
    losses = result.losses()
    before, after = (
        load_file(str(ctx.model_dir / "model.safetensors")),
        load_file(str(ctx.sft_dir / "model.safetensors")),
    )
    moved = [k for k in before if "visual" not in k and not before[k].equal(after[k].to(before[k].dtype))]
    numbers = {"losses": losses, "step_seconds": timer.seconds, "dtype": ctx.dtype}
    ok = len(losses) == steps and all(math.isfinite(x) for x in losses) and bool(moved)
    detail = f"{len(losses)}/{steps} steps in {ctx.dtype}, losses {[round(x, 3) for x in losses]}, "
    detail += f"step s {timer.seconds}, {len(moved)} language tensors moved"
    return ("PASS" if ok else "FAIL"), detail, numbers


def grpo_config(ctx: Context, out: Path, steps: int, **overrides: Any) -> Any:
    from agents.train.grpo.config import WindowedGRPOConfig

    group = ctx.args.group
    return WindowedGRPOConfig(
        output_dir=str(out), use_cpu=not ctx.cuda, bf16=ctx.cuda, max_steps=steps, num_generations=group,
        per_device_train_batch_size=group, gradient_accumulation_steps=1, max_completion_length=ctx.args.max_new_tokens,
        env_kwargs=dict(ENV), demo_script_share=1.0, dynamic_sampling=False, old_logps="forward",
        learning_rate=1e-5, logging_steps=1, save_strategy="no", report_to=[], seed=0, **overrides,
    )  # fmt: skip


def grpo_trainer(ctx: Context, out: Path, steps: int, **overrides: Any) -> Any:
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from agents.train.grpo import WindowedGRPOTrainer

    assert ctx.model_dir is not None, "no tiny model"
    args = grpo_config(ctx, out, steps, **overrides)  # first: under ZeRO-3 the model is built after the config
    dtype = torch.bfloat16 if ctx.cuda else torch.float32
    model = AutoModelForImageTextToText.from_pretrained(str(ctx.model_dir), dtype=dtype)
    return WindowedGRPOTrainer(model, args, AutoProcessor.from_pretrained(str(ctx.model_dir)))


def clip_verdict(history: Sequence[dict[str, Any]], steps: int) -> tuple[bool, str, dict[str, Any]]:
    """Whether a GRPO log history shows ``steps`` finite steps and no clipping on the first micro-batch."""
    rows = [row for row in history if "clip_ratio/region_mean" in row]
    spread = float(rows[0].get("reward_std", 0.0)) if rows else 0.0
    clip = (
        {k: rows[0].get(k) for k in ("clip_ratio/region_mean", "clip_ratio/low_mean", "clip_ratio/high_mean")}
        if rows
        else {}
    )
    losses = [row.get("loss") for row in rows]
    finite = len(rows) == steps and all(isinstance(x, (int, float)) and math.isfinite(x) for x in losses)
    unclipped = bool(clip) and all(v == 0.0 for v in clip.values())
    detail = f"{len(rows)}/{steps} steps, losses {[round(float(x), 4) for x in losses if x is not None]}, "
    detail += f"first micro-batch clip ratio {clip.get('clip_ratio/region_mean')} (reward std {spread:.3f})"
    if spread <= 0.0:  # TRL counts a clipped token only where the advantage pushes it: zero advantages prove nothing
        detail += ": vacuous, the first group's rewards were all equal"
    return finite and unclipped and spread > 0.0, detail, {"losses": losses, "first_clip": clip, "reward_std": spread}


def grpo(ctx: Context) -> tuple[str, str, dict[str, Any]]:
    steps = 3
    trainer = grpo_trainer(ctx, ctx.work / "grpo", steps)
    trainer.train()
    ok, detail, numbers = clip_verdict(trainer.state.log_history, steps)
    step_times = [round(float(r["step_time"]), 3) for r in trainer.state.log_history if "step_time" in r]
    numbers.update(step_seconds=step_times, old_logps="forward", dtype=ctx.dtype)
    return ("PASS" if ok else "FAIL"), f"{detail}, step s {step_times} ({ctx.dtype})", numbers


def zero3(ctx: Context) -> tuple[str, str, dict[str, Any]]:
    import importlib.util

    if not ctx.cuda:
        return "SKIP", "ZeRO-3 needs a GPU (CPU dry run); not counted as a pass", {}
    if importlib.util.find_spec("deepspeed") is None:
        return "SKIP", "deepspeed is not importable (build the wheelhouse with --with-deepspeed); not counted", {}
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "1", "MASTER_ADDR": "127.0.0.1"}
    env.update(MASTER_PORT=str(port), PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    assert ctx.model_dir is not None, "no tiny model"
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--zero3-child",
        str(ctx.model_dir),
        "--work",
        str(ctx.work),
    ]
    command += ["--group", str(ctx.args.group), "--max-new-tokens", str(ctx.args.max_new_tokens)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith(ZERO3_MARK)]
    if done.returncode != 0 or not lines:
        return "FAIL", f"exit {done.returncode}: {done.stderr.strip()[-500:]}", {}
    result = json.loads(lines[-1][len(ZERO3_MARK) :])
    ok = result["steps"] == 1 and all(math.isfinite(x) for x in result["losses"])
    return ("PASS" if ok else "FAIL"), f"1 step under ZeRO-3, loss {result['losses']}, {result['seconds']} s", result


def zero3_child(ctx: Context) -> None:
    """The ZeRO-3 step itself, in its own process (DeepSpeed initialises torch.distributed)."""
    ctx.model_dir = ctx.args.zero3_child
    start = time.perf_counter()
    trainer = grpo_trainer(ctx, ctx.work / "zero3", 1, deepspeed=ZERO3)
    trainer.train()
    losses = [float(r["loss"]) for r in trainer.state.log_history if "loss" in r]
    steps = int(trainer.state.global_step)
    print(ZERO3_MARK + json.dumps({"steps": steps, "losses": losses, "seconds": round(time.perf_counter() - start, 2)}))


def eval_hf(ctx: Context) -> tuple[str, str, dict[str, Any]]:
    from vr_env import cli

    model = ctx.sft_dir if ctx.sft_dir is not None and (ctx.sft_dir / "config.json").exists() else ctx.model_dir
    assert model is not None, "no model"
    pairs, out = ctx.args.eval_pairs, ctx.work / "eval"
    argv = ["eval", "--agent", "hf", "--model", str(model), "--dataset-arg", f"n={pairs}", "--limit", str(pairs)]
    argv += [f"--env-arg={k}={v}" for k, v in ENV.items()]
    argv += ["--num-envs", str(pairs), "--agent-arg", f"device={ctx.args.device}", "--agent-arg", f"dtype={ctx.dtype}"]
    argv += [
        "--agent-arg",
        f"max_new_tokens={ctx.args.max_new_tokens}",
        "--out",
        str(out),
        "--no-plots",
        "--no-progress",
    ]
    start = time.perf_counter()
    code = cli.main(argv)
    seconds = time.perf_counter() - start
    if code != 0:
        return "FAIL", f"vr-env eval --agent hf exited {code}", {}
    metrics = json.loads((out / "metrics.json").read_text())
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines() if line.strip()]
    turns = sum(int(r.get("turns", 0)) for r in rows)
    ok = metrics["n"] == pairs and metrics["skipped"] == 0
    numbers = {"pairs": pairs, "turns": turns, "seconds": round(seconds, 2), "turns_per_s": round(turns / seconds, 2)}
    return (
        ("PASS" if ok else "FAIL"),
        f"{metrics['n']}/{pairs} pairs, {turns} turns, {turns / seconds:.2f} turns/s",
        numbers,
    )


def _carries(wheelhouse: Path | None, name: str) -> bool:
    requirements = None if wheelhouse is None else wheelhouse / gpu_wheelhouse.REQUIREMENTS
    return requirements is not None and requirements.is_file() and f"{name}==" in requirements.read_text()


def setup(ctx: Context) -> tuple[str, str, dict[str, Any]]:
    import importlib
    import importlib.util

    note = ""
    wanted = ["trl", "gymnasium", "vr_env", "agents"] + (["deepspeed"] if ctx.cuda else [])
    missing = [m for m in wanted if importlib.util.find_spec(m) is None]
    if missing == ["deepspeed"] and not _carries(ctx.args.wheelhouse, "deepspeed"):
        missing = []  # nothing to install: the ZeRO-3 step says it is skipped
    if missing:
        if ctx.args.wheelhouse is None:
            return "FAIL", f"{', '.join(missing)} not importable and no --wheelhouse given", {}
        site, last = gpu_wheelhouse.install(ctx.args.wheelhouse)
        sys.path.insert(1, str(site))  # after this checkout
        importlib.invalidate_caches()
        paths = [str(HERE.parent), str(site), os.environ.get("PYTHONPATH", "")]
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
        note = f"installed the wheelhouse into {site} ({last}); "
    import importlib.metadata as metadata

    import torch

    versions = {"python": platform.python_version()}
    for name in ("torch", "transformers", "accelerate", "trl", "gymnasium", "vr-env"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    if ctx.cuda and not torch.cuda.is_available():
        return "FAIL", "--device cuda but torch sees no GPU", versions
    if ctx.cuda and not torch.cuda.is_bf16_supported():
        return "FAIL", "the GPU does not support bfloat16", versions
    device = torch.cuda.get_device_name(0) if ctx.cuda else f"CPU ({os.cpu_count()} cores)"
    versions["device"] = device
    import vr_env

    versions["vr_env from"] = str(Path(vr_env.__file__).parent.parent)
    dry = "" if ctx.cuda else "; CPU dry run in float32 (bfloat16 is the GPU run's dtype, not checked here)"
    return "PASS", note + ", ".join(f"{k} {v}" for k, v in versions.items()) + dry, versions


PHASES: tuple[tuple[str, Callable[[Context], tuple[str, str, dict[str, Any]]]], ...] = (
    ("setup", setup), ("tiny-model", tiny_model), ("sft", sft), ("grpo", grpo), ("zero3", zero3), ("eval-hf", eval_hf),
)  # fmt: skip


def write_results(out: Path, checks: Sequence[Check], total: float, args: argparse.Namespace) -> None:
    out.mkdir(parents=True, exist_ok=True)
    stem = "gpu_check" if args.device == "cuda" else "gpu_check-cpu"
    data = {"device": args.device, "total_seconds": round(total, 1), "checks": [asdict(c) for c in checks]}
    (out / f"{stem}.json").write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    lines = [
        f"# GPU check ({args.device})",
        "",
        f"Total {total:.1f} s.",
        "",
        "| check | status | s | peak GiB | detail |",
    ]
    lines.append("|---|---|---|---|---|")
    lines += [f"| {c.name} | {c.status} | {c.seconds:.1f} | {c.peak_memory_gib} | {c.detail} |" for c in checks]
    (out / f"{stem}.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument("--wheelhouse", type=Path, default=None, help="install this carried wheelhouse if needed")
    parser.add_argument("--build-wheelhouse", type=Path, default=None, metavar="DIR", help="build it, then exit")
    parser.add_argument("--with-av", action="store_true", help="carry PyAV too (about 25 MB more)")
    parser.add_argument("--with-deepspeed", action="store_true", help="carry DeepSpeed too (for the ZeRO-3 step)")
    parser.add_argument("--sft-steps", type=int, default=4)
    parser.add_argument("--group", type=int, default=4, help="GRPO group size (and rows per micro-batch)")
    parser.add_argument("--max-new-tokens", type=int, default=64, help="tokens per turn in GRPO and eval")
    parser.add_argument("--eval-pairs", type=int, default=8)
    parser.add_argument("--budget-s", type=float, default=480.0, help="time limit of the whole GPU check")
    parser.add_argument("--work", type=Path, default=None, help="work folder (default: a temporary one)")
    parser.add_argument("--out", type=Path, default=None, help="write gpu_check.{json,md} here")
    parser.add_argument("--zero3-child", type=Path, default=None, help=argparse.SUPPRESS)  # the model folder
    args = parser.parse_args(argv)
    if args.build_wheelhouse is not None:
        manifest = gpu_wheelhouse.build(args.build_wheelhouse, with_av=args.with_av, with_deepspeed=args.with_deepspeed)
        size = manifest["archive_bytes"]
        print(json.dumps(manifest, indent=2))
        fits = "fits" if size <= gpu_wheelhouse.CARRY_LIMIT else "does NOT fit"
        print(f"{args.build_wheelhouse / gpu_wheelhouse.ARCHIVE}: {size / 2**20:.1f} MiB ({fits} a 64 MiB carry)")
        return 0
    if args.zero3_child is not None:
        zero3_child(Context(args, args.work))
        return 0
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        ctx = Context(args, args.work or Path(tmp))
        checks = []
        for name, body in PHASES:
            checks.append(run_phase(name, ctx, body))
            if name == "setup" and checks[-1].status == "FAIL":
                break
        total = time.perf_counter() - start
        if ctx.cuda:
            status = "PASS" if total <= args.budget_s else "FAIL"
            checks.append(Check("time-budget", status, f"{total:.0f} s of {args.budget_s:.0f} s", total))
            print(f"{status:4} {'time-budget':12} {total:7.1f} s  within {args.budget_s:.0f} s", flush=True)
    failed = [c.name for c in checks if c.status == "FAIL"]
    skipped = [c.name for c in checks if c.status == "SKIP"]
    print(f"gpu check: {len(checks) - len(failed) - len(skipped)} passed, {len(failed)} failed {failed}, "
          f"{len(skipped)} skipped {skipped} (skips are not passes); {total:.0f} s")  # fmt: skip
    if args.out is not None:
        write_results(args.out, checks, total, args)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
