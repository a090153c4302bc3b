"""Type checks for config dataclasses, so a wrong type gives a message naming the field.

``frames_per_video="abc"`` (from ``--env-arg frames_per_video=abc`` or a Python call) used to fail
deep inside with ``'<' not supported between instances of 'str' and 'int'``; now it reads
``invalid EnvConfig: frames_per_video must be a whole number (int), got 'abc' (str)``.

>>> from dataclasses import dataclass
>>> @dataclass
... class C:
...     n: int = 1
...     size: tuple[int, int] = (1, 1)
...     name: str | None = None
>>> type_problems(C(n="abc", size=(2, "x")))
["n must be a whole number (int), got 'abc' (str)", "size must be a pair of whole numbers, got (2, 'x')"]
"""

from __future__ import annotations

import numbers
import os
from dataclasses import fields
from typing import Any


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


_CHECKS: dict[str, tuple[Any, str]] = {
    "int": (_is_int, "a whole number (int)"),
    "float": (lambda v: isinstance(v, numbers.Real) and not isinstance(v, bool), "a number (float)"),
    "bool": (lambda v: isinstance(v, bool), "true or false (bool)"),
    "str": (lambda v: isinstance(v, (str, os.PathLike)), "text (str)"),
    "tuple[int, int]": (
        lambda v: isinstance(v, (tuple, list)) and len(v) == 2 and all(_is_int(x) for x in v),
        "a pair of whole numbers",
    ),
    "dict[str, Any]": (lambda v: isinstance(v, dict), "a mapping (dict)"),
}


def type_problems(config: Any) -> list[str]:
    """One message per field of dataclass ``config`` whose value does not fit its simple annotation."""
    problems = []
    for item in fields(config):
        annotation = str(item.type).replace(" ", "")
        optional = annotation.endswith("|None")
        base = annotation.removesuffix("|None")
        check = _CHECKS.get(base.replace(",", ", "))
        value = getattr(config, item.name)
        if check is None or (optional and value is None):
            continue
        ok, expected = check
        if not ok(value):
            shown = repr(value) if isinstance(value, (tuple, list)) else f"{value!r} ({type(value).__name__})"
            problems.append(f"{item.name} must be {expected}, got {shown}")
    return problems
