"""CLI flags from a dataclass: one ``--field-name`` per simple field, its help from ``metadata["help"]``.

>>> import argparse
>>> from dataclasses import dataclass, field
>>> @dataclass
... class Demo:
...     size: int = field(default=3, metadata={"help": "how many"})
...     fast: bool = field(default=False, metadata={"help": "go fast"})
>>> parser = argparse.ArgumentParser()
>>> add_dataclass_arguments(parser, Demo)
>>> from_args(Demo, parser.parse_args(["--size", "5", "--fast"]))
Demo(size=5, fast=True)
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Collection
from typing import Any, TypeVar

T = TypeVar("T")
_SIMPLE = (int, float, str)


def _scalar(annotation: Any) -> tuple[type | None, bool]:
    """``(type, optional)`` of ``int``, ``float``, ``str``, ``bool`` or ``X | None``; ``(None, _)`` otherwise."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1 and args[0] in (*_SIMPLE, bool):
            return args[0], True
        return None, False
    if annotation in (*_SIMPLE, bool):
        return annotation, False
    return None, False


def add_dataclass_arguments(
    parser: argparse.ArgumentParser, cls: type, skip: Collection[str] = (), prefix: str = ""
) -> None:
    """Add ``--{prefix}{field}`` for every simple field of ``cls`` not in ``skip`` (bools: on/off flags)."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        kind, _ = _scalar(hints[f.name])
        if kind is None:
            continue
        flag = "--" + prefix + f.name.replace("_", "-")
        default = f.default if f.default is not dataclasses.MISSING else None
        text = f.metadata.get("help", "")
        if kind is bool:
            parser.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=default, help=text)
        else:
            shown = "none" if default is None else default
            parser.add_argument(flag, dest=f.name, type=kind, default=default, help=f"{text} (default: {shown})")


def from_args(cls: type[T], args: argparse.Namespace, **extra: Any) -> T:
    """An instance of ``cls`` from the parsed flags (fields without a flag keep their defaults) and ``extra``."""
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    values = {k: v for k, v in vars(args).items() if k in names}
    return cls(**{**values, **extra})
