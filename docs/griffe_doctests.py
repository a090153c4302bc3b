"""Griffe extension for the documentation site: show docstring doctests as ``pycon`` code blocks.

Sphinx-style docstrings write examples as bare ``>>>`` blocks (pytest runs them with
``--doctest-modules``); Markdown would read ``[a, b]`` in their output as links. This wraps every
run of lines starting at a ``>>>`` line, up to the next blank line, in a fenced block.
"""

from __future__ import annotations

from typing import Any

import griffe


def fence_doctests(text: str) -> str:
    """Wrap each ``>>>`` block (prompt lines and their output, up to a blank line) in ```` ```pycon ````."""
    out: list[str] = []
    inside = False
    for line in text.splitlines():
        stripped = line.strip()
        if not inside and stripped.startswith(">>>"):
            indent = line[: len(line) - len(line.lstrip())]
            out.append(f"{indent}```pycon")
            inside = True
        elif inside and not stripped:
            out.append(f"{indent}```")
            inside = False
        out.append(line)
    if inside:
        out.append(f"{indent}```")
    return "\n".join(out)


class DoctestFences(griffe.Extension):
    """Fence the doctests of every loaded object's docstring."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None and ">>>" in obj.docstring.value:
            obj.docstring.value = fence_doctests(obj.docstring.value)
