"""Which comparisons a group of ``n`` videos gets, and in which order each pair is shown.

A schedule is a list of ordered pairs ``(first, second)``: indices into the group, or ``-1 - r`` for
reference (anchor) video ``r`` from outside the group. Schemes (``mode``):

- ``round_robin``: every pair once; with ``orders="balanced"`` the circulant tournament (video ``i``
  is shown first against ``i + 1 ... i + (n - 1) // 2``, modulo ``n``; for even ``n`` the ``n / 2``
  opposite pairs are shown in both orders), so every video is shown first exactly as often as second:
  about ``n**2 / 2`` judge calls (32 for ``n = 8``);
- ``sparse``: ``k`` comparisons per video (``k`` even), video ``i`` first against ``i + 1 ... i + k/2``:
  ``n * k / 2`` calls, each video first ``k / 2`` times and second ``k / 2`` times (a group too small
  for ``k``, ``n <= k + 1`` roughly, gets the round robin instead);
- ``anchor``: every video against each of ``m`` references; for even ``m`` each video is first
  against half of them, otherwise each pair is shown in both orders: ``n * m`` or ``2 * n * m`` calls.
  An in-group anchor (an index) is one reference shown in both orders against the others.

``orders``: ``"balanced"`` (the default: position-balanced as above), ``"both"`` (every pair in both
orders), ``"index"`` (the lower index first, references second: the old, position-biased layout,
kept only to measure it).
"""

from __future__ import annotations

import itertools
from typing import Literal

Mode = Literal["round_robin", "sparse", "anchor"]
Orders = Literal["balanced", "both", "index"]
MODES: tuple[str, ...] = ("round_robin", "sparse", "anchor")
ORDERS: tuple[str, ...] = ("balanced", "both", "index")
#: Comparisons per video of the ``sparse`` scheme unless given.
DEFAULT_K = 4


def _both(pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    return [p for a, b in pairs for p in ((a, b), (b, a))]


def round_robin(n: int, orders: str = "balanced") -> list[tuple[int, int]]:
    """All pairs of ``n`` videos, shown as ``orders`` says.

    >>> round_robin(3), round_robin(4)
    ([(0, 1), (1, 2), (2, 0)], [(0, 1), (1, 2), (2, 3), (3, 0), (0, 2), (2, 0), (1, 3), (3, 1)])
    >>> round_robin(3, "index")
    [(0, 1), (0, 2), (1, 2)]
    """
    if orders == "index":
        return list(itertools.combinations(range(n), 2))
    if orders == "both":
        return _both(list(itertools.combinations(range(n), 2)))
    pairs = [(i, (i + d) % n) for d in range(1, (n - 1) // 2 + 1) for i in range(n)]
    if n % 2 == 0:
        pairs += _both([(i, i + n // 2) for i in range(n // 2)])
    return pairs


def sparse(n: int, k: int = DEFAULT_K, orders: str = "balanced") -> list[tuple[int, int]]:
    """``k`` comparisons per video (``k`` even, below ``n - 1``): ``i`` first against ``i + 1 ... i + k / 2``.

    >>> sparse(5, 2)
    [(0, 1), (1, 2), (2, 3), (3, 4), (4, 0)]
    """
    if k < 2 or k % 2:
        raise ValueError(f"sparse scoring needs an even number of comparisons per video >= 2, got {k}")
    if k // 2 > (n - 1) // 2:
        raise ValueError(
            f"{k} comparisons per video need a group of more than {k + 1} videos (got {n}); use round_robin"
        )
    pairs = [(i, (i + d) % n) for d in range(1, k // 2 + 1) for i in range(n)]
    return _both(pairs) if orders == "both" else pairs


def anchors(n: int, references: int, orders: str = "balanced") -> list[tuple[int, int]]:
    """Every video against each of ``references`` outside videos (index ``-1 - r``).

    >>> anchors(2, 1), anchors(2, 2)
    ([(0, -1), (-1, 0), (1, -1), (-1, 1)], [(0, -1), (-2, 0), (-1, 1), (1, -2)])
    """
    if references < 1:
        raise ValueError("anchor scoring needs at least one reference video")
    pairs: list[tuple[int, int]] = []
    for i in range(n):
        for r in range(references):
            ref = -1 - r
            if orders == "index":
                pairs.append((i, ref))
            elif orders == "both" or references % 2:
                pairs += [(i, ref), (ref, i)]
            else:
                pairs.append((i, ref) if (i + r) % 2 == 0 else (ref, i))
    return pairs


def in_group_anchor(n: int, anchor: int, orders: str = "balanced") -> list[tuple[int, int]]:
    """Every other video against group member ``anchor`` (both orders unless ``orders="index"``)."""
    if not 0 <= anchor < n:
        raise ValueError(f"anchor index {anchor} is outside the group of {n}")
    pairs = [(i, anchor) for i in range(n) if i != anchor]
    return pairs if orders == "index" else _both(pairs)


def schedule(
    n: int,
    mode: str = "round_robin",
    *,
    orders: str = "balanced",
    k: int = DEFAULT_K,
    references: int = 0,
    anchor: int | None = None,
) -> list[tuple[int, int]]:
    """The ordered comparisons of a group of ``n`` (see the module docstring); ``ValueError`` names a bad setting."""
    if orders not in ORDERS:
        raise ValueError(f"unknown orders {orders!r}; choose one of {ORDERS}")
    if mode == "round_robin":
        if n < 2:
            raise ValueError(f"round-robin scoring needs at least 2 videos, got {n}")
        return round_robin(n, orders)
    if mode == "sparse":
        if n >= 2 and k // 2 > (n - 1) // 2 and k >= 2 and k % 2 == 0:
            return round_robin(n, orders)  # a group too small for k comparisons per video: all pairs
        return sparse(n, k, orders)
    if mode == "anchor":
        if anchor is not None:
            return in_group_anchor(n, anchor, orders)
        if n < 1:
            raise ValueError("anchor scoring needs at least 1 video")
        return anchors(n, references, orders)
    raise ValueError(f"unknown group scoring mode {mode!r}; choose one of {MODES}")


def first_counts(n: int, pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """``(times shown first, times shown second)`` per video: equal in a balanced schedule.

    >>> first_counts(4, round_robin(4))
    [(2, 2), (2, 2), (2, 2), (2, 2)]
    """
    counts = [[0, 0] for _ in range(n)]
    for first, second in pairs:
        if first >= 0:
            counts[first][0] += 1
        if second >= 0:
            counts[second][1] += 1
    return [(a, b) for a, b in counts]
