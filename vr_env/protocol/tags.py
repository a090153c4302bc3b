"""Linear-time scanning of the protocol's tags in one model turn.

One regular expression finds every opening and closing tag token in a single left-to-right pass
(each match attempt starts at a ``<`` and cannot run past the next ``<``), then each tag kind's
``<open>body</close>`` blocks are paired in one more pass over its tokens. The result is exactly
what ``re.findall(r"<open>(.*?)<close>", text, re.DOTALL)`` gives for each kind (non-overlapping,
leftmost, shortest body), but in time linear in the turn length, whatever the text: a turn of
thousands of repeated ``<answer>`` tags costs no more than any other text of its length.

>>> blocks = scan_tags("<Think>a</think><answer>x<answer>y</ANSWER> <tool_call>{}")
>>> blocks.bodies("think"), blocks.bodies("final"), blocks.first_open("tool_call")
(['a'], ['x<answer>y'], 55)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

#: Tag kinds and the spelling each accepts (case- and whitespace-insensitive).
TAG_KINDS: dict[str, str] = {
    "snapshot": r"(?:snapshot|synthesis)",  # <synthesis>: the authors' released code's name for <Snapshot>
    "think": r"think",
    "recommend": r"recommend(?:ed)?[\s_-]*answer",
    "final": r"(?:final[\s_-]*)?answer",
    "tool_call": r"tool_call",
}

_TOKEN = re.compile(
    r"<\s*(?P<close>/\s*)?(?:" + "|".join(f"(?P<{k}>{p})" for k, p in TAG_KINDS.items()) + r")\s*>",
    re.IGNORECASE,
)


@dataclass
class TagBlocks:
    """Tag tokens of one turn by kind: ``(is_close, start, end)`` in text order."""

    text: str
    tokens: dict[str, list[tuple[bool, int, int]]] = field(default_factory=dict)

    def bodies(self, kind: str) -> list[str]:
        """Bodies of the complete ``<kind>...</kind>`` blocks, as ``re.findall`` with a lazy body finds them."""
        out: list[str] = []
        body_start: int | None = None
        for is_close, start, end in self.tokens.get(kind, ()):
            if body_start is None:
                if not is_close:
                    body_start = end
            elif is_close:
                out.append(self.text[body_start:start])
                body_start = None
        return out

    def first_open(self, kind: str) -> int | None:
        """End offset of the first opening tag of ``kind`` (``None`` when there is none)."""
        for is_close, _, end in self.tokens.get(kind, ()):
            if not is_close:
                return end
        return None


def scan_tags(text: str) -> TagBlocks:
    """Find every protocol tag token of ``text`` in one pass."""
    blocks = TagBlocks(text)
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup
        if kind is None or kind == "close":  # pragma: no cover - a kind group always matches last
            continue
        blocks.tokens.setdefault(kind, []).append((match.group("close") is not None, match.start(), match.end()))
    return blocks
