"""Benchmark metrics from per-episode result rows (one row per line of ``results.jsonl``).

Main metrics use the episodes in the dataset's own order (``swapped`` false); the swapped episodes of
``--swap-check`` only feed the swap-consistency figures.

- ``tau``: OA accuracy over all pairs with an OA label, tie a valid label (spec section 5).
- ``diff``: OA accuracy over pairs whose OA label is not a tie.
- ``per_dimension``: TA / VQ / MQ accuracy over the pairs labelled for that dimension (ties count).
- ``swap_consistency``: share of pairs whose OA verdict survives exchanging the videos, i.e. the
  swapped episode answers the mirror (1 <-> 2, tie stays tie) of the original answer.
- ``by_length``: accuracy per tercile of pair length (mean duration of the two videos in seconds,
  or frames when durations are unknown) plus the longest 10 %.
- ``reference``: constant and random judges scored on the same labels.

A missing answer (an episode cut off before any answer) counts as wrong.

>>> rows = [{"status": "ok", "swapped": False, "labels": {"OA": 1}, "final_answer": {"OA": 1}},
...         {"status": "ok", "swapped": False, "labels": {"OA": 0}, "final_answer": {"OA": 1}}]
>>> m = compute_metrics(rows)
>>> m["tau"], m["diff"], m["reference"]["always-tie"]["tau"]
(0.5, 1.0, 0.5)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from vr_env.protocol.labels import DIMENSION_KEYS, LABEL_KEYS, swap_label

Row = Mapping[str, Any]
Answer = Mapping[str, Any] | None

#: Constant reference judges: name -> the answer they give for every key.
CONSTANT_REFERENCES: dict[str, int] = {"always-video-1": 1, "always-video-2": 2, "always-tie": 0}
REFERENCE_NOTES: dict[str, str] = {
    "always-video-1": "answers 1 (video 1 better) for every key",
    "always-video-2": "answers 2 (video 2 better) for every key",
    "always-tie": "answers 0 (tie) for every key",
    "random-3way": "expected accuracy of a uniformly random answer among 1 / 2 / 0 (exact, not a draw)",
    "random-2way": "expected accuracy of a uniformly random answer among 1 / 2, never a tie (exact, not a draw)",
}


def _label(row: Row, key: str) -> int | None:
    value = (row.get("labels") or {}).get(key)
    return None if value is None else int(value)


def _answer(row: Row, key: str) -> int | None:
    answer = row.get("final_answer") or {}
    value = answer.get(key)
    return None if value is None else int(value)


def accuracy(
    rows: Sequence[Row], key: str = "OA", non_tie: bool = False, predict: Callable[[Row, str], int | None] = _answer
) -> float | None:
    """Share of rows labelled for ``key`` (not a tie when ``non_tie``) that ``predict`` gets right."""
    hits = total = 0
    for row in rows:
        label = _label(row, key)
        if label is None or (non_tie and label == 0):
            continue
        total += 1
        hits += predict(row, key) == label
    return hits / total if total else None


def bootstrap_interval(
    rows: Sequence[Row],
    key: str = "OA",
    non_tie: bool = False,
    *,
    level: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, float] | None:
    """Percentile bootstrap interval of :func:`accuracy` over the labelled pairs (seeded, resampled
    with replacement ``resamples`` times); ``None`` when no pair counts.

    >>> rows = [{"labels": {"OA": 1}, "final_answer": {"OA": v}} for v in (1, 1, 1, 2)]
    >>> low, high = bootstrap_interval(rows)
    >>> 0.0 <= low <= 0.75 <= high <= 1.0
    True
    """
    hits = []
    for row in rows:
        label = _label(row, key)
        if label is None or (non_tie and label == 0):
            continue
        hits.append(float(_answer(row, key) == label))
    if not hits:
        return None
    rng = np.random.default_rng([seed, 0xB0])
    draws = rng.integers(0, len(hits), size=(resamples, len(hits)))
    means = np.asarray(hits)[draws].mean(axis=1)
    tail = (1.0 - level) / 2 * 100
    return float(np.percentile(means, tail)), float(np.percentile(means, 100 - tail))


def _expected_random(rows: Sequence[Row], key: str, non_tie: bool, choices: tuple[int, ...]) -> float | None:
    labels = [_label(r, key) for r in rows]
    labels = [v for v in labels if v is not None and not (non_tie and v == 0)]
    if not labels:
        return None
    return float(np.mean([(v in choices) / len(choices) for v in labels]))


def accuracy_block(rows: Sequence[Row], predict: Callable[[Row, str], int | None] = _answer) -> dict[str, Any]:
    """``tau``, ``diff`` and ``per_dimension`` for one judge."""
    return {
        "tau": accuracy(rows, "OA", False, predict),
        "diff": accuracy(rows, "OA", True, predict),
        "per_dimension": {d: accuracy(rows, d, False, predict) for d in DIMENSION_KEYS},
    }


def reference_rows(rows: Sequence[Row]) -> dict[str, dict[str, Any]]:
    """Reference judges on the same labels: always 1, always 2, always tie, random (expected)."""
    out: dict[str, dict[str, Any]] = {}
    for name, value in CONSTANT_REFERENCES.items():

        def constant(_row: Row, _key: str, v: int = value) -> int:
            return v

        out[name] = accuracy_block(rows, constant)
    for name, choices in (("random-3way", (0, 1, 2)), ("random-2way", (1, 2))):
        out[name] = {
            "tau": _expected_random(rows, "OA", False, choices),
            "diff": _expected_random(rows, "OA", True, choices),
            "per_dimension": {d: _expected_random(rows, d, False, choices) for d in DIMENSION_KEYS},
        }
    for name in out:
        out[name]["note"] = REFERENCE_NOTES[name]
    return out


def _mirror(answer: Answer) -> dict[str, int | None]:
    return {k: swap_label(answer.get(k)) if answer else None for k in LABEL_KEYS}


def swap_consistency(primary: Sequence[Row], swapped: Sequence[Row]) -> dict[str, Any]:
    """Share of pairs (both orientations finished) whose verdict survives the swap: OA, and all keys."""
    by_index = {int(r["pair_index"]): r for r in swapped}
    both = [(r, by_index[int(r["pair_index"])]) for r in primary if int(r["pair_index"]) in by_index]
    oa = every = 0
    for original, mirrored in both:
        want = _mirror(original.get("final_answer"))
        got = mirrored.get("final_answer") or {}
        answered = original.get("final_answer") is not None and mirrored.get("final_answer") is not None
        oa += answered and got.get("OA") == want["OA"]
        every += answered and all(got.get(k) == want[k] for k in LABEL_KEYS)
    n = len(both)
    return {
        "swap_consistency": oa / n if n else None,
        "swap_consistency_all_keys": every / n if n else None,
        "swap_pairs": n,
    }


def pair_length(row: Row) -> tuple[float | None, str | None]:
    """Length of a pair: mean duration of its two videos in seconds, else mean frame count."""
    videos = [row.get("video_1") or {}, row.get("video_2") or {}]
    durations = [v.get("duration") for v in videos]
    if all(d is not None for d in durations):
        return float(np.mean([float(d) for d in durations if d is not None])), "s"
    frames = [v.get("num_frames") for v in videos]
    if all(f is not None for f in frames):
        return float(np.mean([float(f) for f in frames if f is not None])), "frames"
    return None, None


def _fmt(value: float, unit: str) -> str:
    return f"{value:.3g} {unit}"


def length_buckets(rows: Sequence[Row]) -> dict[str, Any]:
    """Accuracy by tercile of pair length, plus the longest 10 % (spec section 6: long videos)."""
    measured = [(row, *pair_length(row)) for row in rows]
    units = Counter(unit for _, _, unit in measured if unit is not None)
    if not units:
        return {"unit": None, "unmeasured": len(rows), "buckets": []}
    unit = "s" if units["s"] >= units["frames"] else "frames"
    kept = [(row, value) for row, value, u in measured if u == unit and value is not None]
    values = np.array([value for _, value in kept], dtype=np.float64)
    buckets: list[dict[str, Any]] = []

    def add(label: str, members: list[Row], low: float, high: float) -> None:
        if members:
            buckets.append({"label": label, "low": low, "high": high, "n": len(members), **accuracy_block(members)})

    low_all, high_all = float(values.min()), float(values.max())
    if low_all == high_all:
        add(f"all ({_fmt(low_all, unit)})", [r for r, _ in kept], low_all, high_all)
    else:
        q1, q2 = (float(q) for q in np.quantile(values, [1 / 3, 2 / 3]))
        groups: list[tuple[str, Callable[[float], bool], float, float]] = [
            (f"short (<= {_fmt(q1, unit)})", lambda v: v <= q1, low_all, q1),
            (f"medium ({_fmt(q1, unit)} - {_fmt(q2, unit)}]", lambda v: q1 < v <= q2, q1, q2),
            (f"long (> {_fmt(q2, unit)})", lambda v: v > q2, q2, high_all),
        ]
        for label, test, low, high in groups:
            add(label, [r for r, v in kept if test(v)], low, high)
        q90 = float(np.quantile(values, 0.9))
        add(f"longest 10% (>= {_fmt(q90, unit)})", [r for r, v in kept if v >= q90], q90, high_all)
    return {"unit": unit, "unmeasured": len(rows) - len(kept), "buckets": buckets}


def by_tool_calls(rows: Sequence[Row]) -> dict[str, dict[str, Any]]:
    """OA accuracy grouped by the number of executed tool calls."""
    groups: dict[int, list[Row]] = {}
    for row in rows:
        groups.setdefault(int(row.get("tool_calls", 0)), []).append(row)
    return {
        str(k): {"n": len(v), "tau": accuracy(v, "OA"), "diff": accuracy(v, "OA", True)}
        for k, v in sorted(groups.items())
    }


def oa_confusion(rows: Sequence[Row]) -> dict[str, dict[str, int]]:
    """Counts of OA label (outer key) against OA answer (inner key; ``none`` = no answer)."""
    names = {1: "video 1", 2: "video 2", 0: "tie", None: "none"}
    table = {names[v]: {names[a]: 0 for a in (1, 2, 0, None)} for v in (1, 2, 0)}
    for row in rows:
        label = _label(row, "OA")
        if label is not None:
            table[names[label]][names[_answer(row, "OA")]] += 1
    return table


def _mean(rows: Sequence[Row], get: Callable[[Row], float]) -> float | None:
    return float(np.mean([get(r) for r in rows])) if rows else None


def compute_metrics(rows: Iterable[Row], swap_check: bool | None = None, max_listed_skips: int = 50) -> dict[str, Any]:
    """All metrics of ``metrics.json`` from result rows (``status`` ``ok`` or ``skipped``).

    ``swap_check``: whether swapped episodes were asked for; ``None`` guesses from the rows. Without
    it ``swap_consistency`` is ``None``.
    """
    rows = list(rows)
    ok = [r for r in rows if r.get("status", "ok") == "ok"]
    skipped = [r for r in rows if r.get("status", "ok") != "ok"]
    primary = [r for r in ok if not r.get("swapped")]
    mirrored = [r for r in ok if r.get("swapped")]
    if swap_check is None:
        swap_check = any(r.get("swapped") for r in rows)
    turns = sum(int(r.get("turns", 0)) for r in primary)
    components = [r.get("reward_components") or {} for r in primary]
    metrics: dict[str, Any] = {
        "n": len(primary),
        "n_labelled_oa": sum(_label(r, "OA") is not None for r in primary),
        "n_non_tie": sum(_label(r, "OA") in (1, 2) for r in primary),
        **accuracy_block(primary),
        "per_dimension_n": {d: sum(_label(r, d) is not None for r in primary) for d in DIMENSION_KEYS},
        "swap_consistency": None,
        "swap_consistency_all_keys": None,
        "swap_pairs": 0,
        "tau_swapped": None,
        "tool_calls_mean": _mean(primary, lambda r: float(r.get("tool_calls", 0))),
        "tool_use_rate": _mean(primary, lambda r: float(int(r.get("tool_calls", 0)) > 0)),
        "frames_fetched_mean": _mean(primary, lambda r: float(r.get("frames_fetched", 0))),
        "turns_mean": _mean(primary, lambda r: float(r.get("turns", 0))),
        "invalid_turn_rate": (sum(int(r.get("invalid_turns", 0)) for r in primary) / turns) if turns else None,
        "format_ok_rate": float(np.mean([c.get("format", 0.0) for c in components])) if components else None,
        "truncated_rate": _mean(primary, lambda r: float(bool(r.get("truncated")))),
        "no_answer_rate": _mean(primary, lambda r: float(r.get("final_answer") is None)),
        "return_mean": _mean(primary, lambda r: float((r.get("reward_components") or {}).get("return", 0.0))),
        "skipped": len(skipped),
        "skipped_pairs": [
            {k: r.get(k) for k in ("pair_index", "pair_id", "swapped", "reason")} for r in skipped[:max_listed_skips]
        ],
        "oa_label_counts": {
            name: sum(_label(r, "OA") == v for r in primary) for name, v in (("video 1", 1), ("video 2", 2), ("tie", 0))
        },
        "by_length": length_buckets(primary),
        "by_tool_calls": by_tool_calls(primary),
        "oa_confusion": oa_confusion(primary),
        "reference": reference_rows(primary),
    }
    if swap_check:
        metrics.update(swap_consistency(primary, mirrored))
        metrics["tau_swapped"] = accuracy(mirrored, "OA")
    return metrics
