"""Shards of an evaluation: which episodes shard ``I`` of ``N`` plays, and where it writes them.

A shard owns the pairs at positions ``I, I + N, I + 2N, ...`` of the run's pair selection (both
orientations of a pair stay together), so shards are balanced however the dataset is sorted, and a
larger ``--limit`` extends every shard without moving a pair to another shard. Shard ``I`` of ``N``
writes an ordinary evaluation folder (``results.jsonl``, ``config.json`` with a ``shard`` entry,
``metrics.json`` and ``report.md`` of its share) at ``OUT/shards/I-of-N``.

>>> from vr_env.eval.jobs import make_jobs
>>> shard = Shard.parse("1/3")
>>> shard.name, [j.key for j in shard.jobs(make_jobs([5, 6, 7, 8], swap_check=True), [5, 6, 7, 8])]
('1-of-3', ['6:0', '6:1'])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vr_env.driver import Job

#: Sub-folder of the output folder that holds the shard folders.
SHARDS_DIR = "shards"


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (0-based) of ``count``."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError(f"a shard count must be >= 1, got {self.count}")
        if not 0 <= self.index < self.count:
            raise ValueError(f"shard index must be in 0..{self.count - 1} (0-based), got {self.index}")

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``"I/N"`` (``I`` counted from 0, like a rank) -> ``Shard(I, N)``."""
        index, sep, count = text.strip().partition("/")
        try:
            if not sep:
                raise ValueError
            return cls(int(index), int(count))
        except ValueError as exc:
            detail = f": {exc}" if str(exc) else ""
            raise ValueError(f"expected a shard as I/N with 0 <= I < N (e.g. 0/8), got {text!r}{detail}") from None

    @property
    def name(self) -> str:
        """Folder name, ``"I-of-N"``."""
        return f"{self.index}-of-{self.count}"

    def folder(self, out: str | Path) -> Path:
        """This shard's folder under the output folder ``out``."""
        return Path(out) / SHARDS_DIR / self.name

    def owns(self, position: int) -> bool:
        """Whether the pair at ``position`` of the selection is this shard's."""
        return position % self.count == self.index

    def jobs(self, jobs: Sequence[Job], pair_indices: Sequence[int]) -> list[Job]:
        """The jobs of this shard, in their run order; ``pair_indices`` is the run's pair selection."""
        position = pair_position(pair_indices)
        return [job for job in jobs if self.owns(position[job.pair_index])]

    def to_dict(self) -> dict[str, int]:
        return {"index": self.index, "count": self.count}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Shard:
        return cls(int(data["index"]), int(data["count"]))


def pair_position(pair_indices: Sequence[int]) -> dict[int, int]:
    """Pair index -> its position in the selection."""
    return {int(pair): position for position, pair in enumerate(pair_indices)}


def owner(pair_index: int, pair_indices: Sequence[int], count: int) -> int:
    """The shard (of ``count``) that plays ``pair_index``."""
    return pair_position(pair_indices)[int(pair_index)] % count
