"""Fuzz ``VRJudge-v0.step`` with generated model turns: count exceptions (goal 0), time every step.

Actions are drawn from six families, each from a seeded generator: random Unicode (surrogates,
controls, any plane), near-miss protocol (valid turns with characters deleted, duplicated or
swapped, tags re-cased or unclosed), adversarial numbers in ``target_frames`` (NaN, Infinity,
1e400, negative, huge and over-long integers, floats, strings, nulls), nested JSON (up to 200,000
levels, raw and string-encoded), megabyte strings (repeated tags, brackets, random text) and
valid turns (so that episodes advance through tool calls to their end). They run through several
environment configurations; after every step the episode's context is checked for consistency
(one assistant turn per counted turn, every non-final turn answered).

    python benchmarks/fuzz_step.py [--actions 200000] [--seed 0] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import traceback
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from vr_env.env import VRJudgeEnv

HEAD = "<Snapshot>s</Snapshot><Think>t</Think>"
REC = "<Recommend Answer>TA=1, VQ=2, MQ=0, OA=1, CF=2</Recommend Answer>"
CALL = '<tool_call>{"name": "select_frames", "arguments": %s}</tool_call>'
FINAL = HEAD + "<Answer>TA=1, VQ=2, MQ=0, OA=1</Answer>"

CONFIGS: dict[str, dict[str, Any]] = {
    "default": {},
    "small": {"frames_per_video": 16, "max_tool_calls": 1, "max_frames_per_call": 4},
    "no-memory": {"memory_window": 0, "max_frames_per_call": 2, "max_tool_calls": 5},
    "short-actions": {"max_action_length": 256, "reward": "binary"},
    "wide-window": {"memory_window": 3, "max_tool_calls": 4, "frames_per_video": 24},
}

NUMBERS = [
    "NaN", "Infinity", "-Infinity", "1e400", "-1e400", "1e308", "-0", "0", "-1", "-99999999999999999999",
    "9" * 4000, "9" * 5000, "1.5", "3.0", "2e1", '"7"', "null", "true", "[]", "{}", "[1, [2]]", "4", "17", "96",
]  # fmt: skip
TAGS = ["<Snapshot>", "</Snapshot>", "<Think>", "</Think>", "<Answer>", "</Answer>", "<Recommend Answer>",
        "</Recommend Answer>", "<tool_call>", "</tool_call>", "<final answer>", "< / answer >"]  # fmt: skip


def random_unicode(rng: np.random.Generator) -> str:
    n = int(rng.integers(0, 300))
    planes = rng.choice([0x7F, 0x800, 0xFFFF, 0x10FFFF], size=n)
    return "".join(chr(int(rng.integers(0, p))) for p in planes)


def valid_turn(rng: np.random.Generator) -> str:
    if rng.random() < 0.3:
        return FINAL
    frames = sorted({int(x) for x in rng.integers(1, 33, size=int(rng.integers(1, 5)))})
    return HEAD + REC + CALL % json.dumps({"target_frames": frames})


def near_miss(rng: np.random.Generator) -> str:
    text = list(valid_turn(rng))
    for _ in range(int(rng.integers(1, 6))):
        if not text:
            break
        i = int(rng.integers(0, len(text)))
        op = int(rng.integers(0, 5))
        if op == 0:
            del text[i]
        elif op == 1:
            text.insert(i, text[i])
        elif op == 2:
            j = int(rng.integers(0, len(text)))
            text[i], text[j] = text[j], text[i]
        elif op == 3:
            text[i] = text[i].swapcase()
        else:
            text.insert(i, str(rng.choice(TAGS)))
    return "".join(text)


def numbers(rng: np.random.Generator) -> str:
    items = ", ".join(str(rng.choice(NUMBERS)) for _ in range(int(rng.integers(1, 6))))
    form = int(rng.integers(0, 4))
    if form == 0:
        return HEAD + REC + CALL % ('{"target_frames": [' + items + "]}")
    if form == 1:
        return HEAD + REC + CALL % json.dumps({"target_frames": f"[{items}]"})
    if form == 2:
        return HEAD + REC + CALL % ('{"target_frames": ' + str(rng.choice(NUMBERS)) + "}")
    return HEAD + f"<Answer>TA={rng.choice(NUMBERS)}, VQ=1, MQ={rng.choice(NUMBERS)}, OA=1</Answer>"


def nested(rng: np.random.Generator) -> str:
    depth = int(rng.choice([10, 900, 1100, 5000, 50_000, 200_000]))
    opener = str(rng.choice(["[", "{", '{"a":']))
    body = opener * depth
    form = int(rng.integers(0, 4))
    if form == 0:
        return HEAD + REC + CALL % ('{"target_frames": ' + body + "}")
    if form == 1:
        return HEAD + REC + CALL % json.dumps({"target_frames": body})
    if form == 2:
        return HEAD + REC + CALL % json.dumps(body)
    return HEAD + REC + "<tool_call>" + body + "</tool_call>"


_MEGA: list[str] = []


def megabyte(rng: np.random.Generator) -> str:
    if not _MEGA:
        size = 1 << 20
        _MEGA.extend(
            [
                ("<answer>" * (size // 8)),
                ("<tool_call>" * (size // 11)),
                ("[" * size),
                HEAD + REC + CALL % json.dumps({"target_frames": "x" * size}),
                "".join(chr(c) for c in np.random.default_rng(1).integers(32, 0x2FFF, size=size)),
            ]
        )
    return _MEGA[int(rng.integers(0, len(_MEGA)))]


FAMILIES: dict[str, tuple[float, Callable[[np.random.Generator], str]]] = {
    "unicode": (0.2, random_unicode),
    "near-miss": (0.3, near_miss),
    "numbers": (0.2, numbers),
    "nested": (0.05, nested),
    "megabyte": (0.005, megabyte),
    "valid": (0.245, valid_turn),
}


def consistent(info: dict[str, Any], terminal: bool) -> bool:
    turns = info["context"].turns
    roles = [t.role for t in turns]
    if roles.count("assistant") != info["turn"]:
        return False
    return terminal or roles[-1] == "user"


def run(total: int, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    names = list(FAMILIES)
    weights = np.array([FAMILIES[n][0] for n in names])
    weights /= weights.sum()
    per_config = total // len(CONFIGS)
    exceptions: Counter[str] = Counter()
    inconsistent = 0
    examples: list[dict[str, str]] = []
    times: dict[str, list[float]] = {n: [] for n in names}
    steps = episodes = 0
    for kwargs in CONFIGS.values():
        env = VRJudgeEnv(dataset_kwargs={"n": 16}, **kwargs)
        env.reset(seed=seed)
        for _ in range(per_config):
            family = names[int(rng.choice(len(names), p=weights))]
            action = FAMILIES[family][1](rng)
            start = time.perf_counter()
            try:
                _, _, terminated, truncated, info = env.step(action)
            except Exception as exc:  # counted: the goal is none
                exceptions[f"{family}: {type(exc).__name__}"] += 1
                if len(examples) < 10:
                    examples.append({"family": family, "action": action[:200], "error": traceback.format_exc()[-600:]})
                env.reset(seed=int(rng.integers(1 << 30)))
                continue
            finally:
                times[family].append(time.perf_counter() - start)
                steps += 1
            if not consistent(info, terminated or truncated):
                inconsistent += 1
            if terminated or truncated:
                episodes += 1
                env.reset(seed=int(rng.integers(1 << 30)))
        env.close()

    def pct(values: list[float]) -> dict[str, float]:
        if not values:
            return {}
        ms = np.asarray(values) * 1e3
        return {
            "n": len(values),
            **{f"p{q}": round(float(np.percentile(ms, q)), 3) for q in (50, 90, 99)},
            "max": round(float(ms.max()), 3),
        }

    return {
        "actions": steps,
        "episodes_finished": episodes,
        "configs": list(CONFIGS),
        "exceptions": sum(exceptions.values()),
        "exceptions_by_kind": dict(exceptions),
        "inconsistent_contexts": inconsistent,
        "examples": examples,
        "step_ms": {"all": pct([t for v in times.values() for t in v]), **{n: pct(v) for n, v in times.items()}},
    }


def write(result: dict[str, Any], out: Path, command: str, seconds: float) -> None:
    out.mkdir(parents=True, exist_ok=True)
    result = {
        **result,
        "seconds": round(seconds, 1),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores (shared), no GPU",
        "command": command,
    }
    (out / "fuzz_step.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "# Fuzzing `env.step`",
        "",
        f"Command: `{command}`  ",
        f"Machine: {result['machine']}; wall time {result['seconds']} s.",
        "",
        f"**{result['actions']:,} generated actions** through `env.step` across {len(result['configs'])} "
        f"configurations ({', '.join(result['configs'])}), {result['episodes_finished']:,} episodes finished.",
        "",
        f"- exceptions raised by `env.step`: **{result['exceptions']}** (goal 0) {result['exceptions_by_kind'] or ''}",
        f"- steps leaving an inconsistent context: **{result['inconsistent_contexts']}** (goal 0)",
        "",
        "| family | actions | p50 ms | p90 ms | p99 ms | max ms |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, stats in result["step_ms"].items():
        if stats:
            lines.append(
                f"| {name} | {stats['n']:,} | {stats['p50']} | {stats['p90']} | {stats['p99']} | {stats['max']} |"
            )
    lines += [
        "",
        "Families: random Unicode (any plane, surrogates, controls); near-miss protocol (valid turns with",
        "characters deleted, duplicated, swapped, re-cased or tags inserted); adversarial numbers in",
        "`target_frames` and answers (NaN, Infinity, 1e400, negative, 4,000- and 5,000-digit integers, floats,",
        "strings, null, lists); nested JSON up to 200,000 levels (raw and string-encoded); 1 MB strings",
        "(cut to `max_action_length` and penalised); valid tool calls and final answers. Step time",
        "includes fetching frames for valid tool calls (synthetic clips, shared frame cache).",
    ]
    (out / "fuzz_step.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--actions", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    start = time.perf_counter()
    result = run(args.actions, args.seed)
    seconds = time.perf_counter() - start
    command = f"python benchmarks/fuzz_step.py --actions {args.actions} --seed {args.seed}"
    write(result, args.out, command, seconds)
    print(json.dumps({k: result[k] for k in ("actions", "exceptions", "inconsistent_contexts")}))
    print(json.dumps(result["step_ms"]["all"]))


if __name__ == "__main__":
    main()
