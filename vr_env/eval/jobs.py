"""Which episodes an evaluation plays: pair selection, swapped twins and per-episode seeds."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vr_env.driver import Job, episode_seed


def select_pairs(size: int, limit: int | None = None, shuffle: bool = False, seed: int = 0) -> list[int]:
    """Pair indices to evaluate: the first ``limit`` in dataset order, or of a seeded permutation.

    A larger ``limit`` extends a smaller one (same seed), so runs resume into each other.

    >>> select_pairs(10, 3), select_pairs(10, 3, shuffle=True, seed=1) == select_pairs(10, 5, shuffle=True, seed=1)[:3]
    ([0, 1, 2], True)
    """
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    order = np.random.default_rng(seed).permutation(size).tolist() if shuffle else list(range(size))
    return [int(i) for i in order[: size if limit is None else limit]]


def make_jobs(pair_indices: Sequence[int], swap_check: bool, seed: int = 0) -> list[Job]:
    """One job per pair (plus its swapped twin when ``swap_check``), each seeded by the run seed and the pair.

    >>> [j.key for j in make_jobs([4, 7], swap_check=True)]
    ['4:0', '7:0', '4:1', '7:1']
    """
    oriented = [(i, False) for i in pair_indices] + ([(i, True) for i in pair_indices] if swap_check else [])
    return [
        Job(pair_index=int(i), swapped=s, seed=episode_seed(seed, i, s), index=n) for n, (i, s) in enumerate(oriented)
    ]
