"""The visual memory window: which tool rounds still show their images.

The initial frames always stay. The images of tool round ``r`` (1-based, executed calls only) stay
visible while ``r > latest - p``; older rounds keep only their text. So the context never holds
more than ``N_in + p * N_ex`` images.

>>> window = MemoryWindow(size=1)
>>> [window.is_visible(r, latest=3) for r in (1, 2, 3)]
[False, False, True]
>>> MemoryWindow(size=2).is_visible(2, latest=3)
True
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MemoryWindow:
    """Keep the images of the ``size`` most recent tool rounds (``p`` in the paper)."""

    size: int = 1

    def __post_init__(self) -> None:
        if self.size < 0:
            raise ValueError(f"memory window size must be >= 0, got {self.size}")

    def is_visible(self, tool_round: int | None, latest: int) -> bool:
        """Whether the images of ``tool_round`` are visible when ``latest`` rounds have run.

        ``tool_round=None`` marks the initial frames, which are always visible.
        """
        if tool_round is None:
            return True
        return tool_round > latest - self.size
