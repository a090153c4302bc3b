"""DAPO dynamic sampling: drop groups whose G accuracies are all equal and refill them from new pairs.

TRL has no dynamic sampling. A group where every trajectory is equally right (or wrong) has zero
advantage everywhere and teaches nothing, so its slots are played again on a fresh pair, at most
``max_refill_rounds`` times per generation; groups still degenerate after the cap get zero weight.
Replacement pairs are drawn from the trainer's training pairs only (the ``pair_index`` values of
its train dataset: never a held-out evaluation pair or a pair the user left out), avoiding the pairs
of the dropped groups when enough others remain, with a generator seeded by (run seed, step, round)
over the sorted pool: identical on every rank, so a group spanning ranks gets the same new pair
everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


def replacement_pairs(
    count: int, pool: int | Sequence[int], seed: int, step: int, round_: int, avoid: Sequence[int] = ()
) -> list[int]:
    """``count`` pair indices for refilled groups, the same on every rank; avoids ``avoid`` when it can.

    ``pool``: the pair indices to draw from (an ``int`` ``n`` means ``range(n)``); it is sorted and
    de-duplicated first, so the draw does not depend on its order.
    """
    candidates = np.arange(pool) if isinstance(pool, int | np.integer) else np.unique(np.asarray(list(pool), dtype=int))
    if len(candidates) < 1:
        raise ValueError("the dataset has no pairs to refill from")
    rng = np.random.default_rng([seed, step, round_, 0xD5])
    kept = np.setdiff1d(candidates, np.asarray(list(avoid), dtype=int))
    if len(kept) < count:
        kept = candidates
    return [int(i) for i in rng.choice(kept, size=count, replace=len(kept) < count)]


def swap_flags(pair_indices: Sequence[int], seed: int, step: int) -> dict[int, bool]:
    """A seeded coin per pair: whether its two videos are shown swapped this generation.

    Each pair's coin depends on (``seed``, ``step``, pair) only, never on the other pairs passed: ranks
    that pass disjoint subsets of one batch (a group spanning two ranks) agree on every shared pair.
    """
    return {
        pair: bool(np.random.default_rng([seed, step, pair, 0x5A]).integers(0, 2))
        for pair in sorted({int(i) for i in pair_indices})
    }


@dataclass
class SamplingReport:
    """What dynamic sampling did in one generation (shares are over the batch's groups)."""

    groups: int
    dropped_first: int = 0
    refill_rounds: int = 0
    refilled: int = 0
    unfilled: int = 0
    rounds_dropped: list[int] = field(default_factory=list)

    def metrics(self) -> dict[str, float]:
        n = max(self.groups, 1)
        return {
            "dynamic_sampling/dropped_share": self.dropped_first / n,
            "dynamic_sampling/refill_rounds": float(self.refill_rounds),
            "dynamic_sampling/refilled_groups": float(self.refilled),
            "dynamic_sampling/unfilled_share": self.unfilled / n,
        }


def groups_of_slots(slot_groups: Sequence[int], dropped: Sequence[int]) -> list[int]:
    """Positions of the local slots whose (global) group is in ``dropped``."""
    wanted = set(int(g) for g in dropped)
    return [i for i, g in enumerate(slot_groups) if int(g) in wanted]
