"""Path rules for dataset loaders: every label file and video is found under the user's data root.

A video path from a dataset row is resolved by :class:`VideoResolver` against one or more base
folders inside ``data_root``; a path that ends up outside ``data_root`` (an absolute path elsewhere,
a ``..`` escape, or a symlink whose target is elsewhere) is rejected with
:class:`~vr_env.data.validate.RowError`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from vr_env.data.base import DatasetError
from vr_env.data.problems import BAD_PATH, OUTSIDE_ROOT, RowError

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_within(path: Path, root: Path) -> bool:
    """True when ``path`` is ``root`` or lies below it (both taken as given, no resolving)."""
    try:
        path.relative_to(root)
    except ValueError:
        return False
    return True


def require_data_root(data_root: str | Path | None, dataset: str, expected: str) -> Path:
    """The resolved data root, or :class:`DatasetError` saying what is missing and what was expected."""
    if data_root is None:
        raise DatasetError(f"{dataset}: no data_root given; expected a folder with {expected}")
    root = Path(data_root).expanduser().resolve()
    if not root.exists():
        raise DatasetError(f"{dataset}: data_root {root} does not exist; expected a folder with {expected}")
    if not root.is_dir():
        raise DatasetError(f"{dataset}: data_root {root} is not a folder; expected a folder with {expected}")
    return root


def find_label_file(root: Path, given: str | Path | None, patterns: Sequence[str], dataset: str) -> Path:
    """The label file: ``given`` (absolute, or relative to ``root``) or the first of ``patterns`` that matches.

    ``patterns`` are glob patterns relative to ``root`` tried in order; a pattern matching several
    files is an error (the user must name one), so is matching nothing at all.
    """
    if given is not None:
        path = Path(given).expanduser()
        path = path if path.is_absolute() else root / path
        if not path.is_file():
            raise DatasetError(f"{dataset}: label file {path} not found")
        return path.resolve()
    for pattern in patterns:
        matches = sorted(p for p in root.glob(pattern) if p.is_file())
        if len(matches) == 1:
            return matches[0].resolve()
        if len(matches) > 1:
            names = ", ".join(str(p.relative_to(root)) for p in matches)
            raise DatasetError(
                f"{dataset}: several label files match {pattern!r} in {root} ({names}); name one with file="
            )
    raise DatasetError(f"{dataset}: no label file in {root}; expected one of: {', '.join(patterns)}")


def resolve_subdir(root: Path, subdir: str | Path | None, dataset: str, *, trust_symlinks: bool = False) -> Path | None:
    """``root / subdir`` (symlinks resolved unless ``trust_symlinks``), or :class:`DatasetError` if it
    leaves ``root``; ``None`` passes through."""
    if subdir is None:
        return None
    path = Path(subdir).expanduser()
    path = path if path.is_absolute() else root / path
    path = Path(os.path.normpath(path)) if trust_symlinks else path.resolve()
    if not is_within(path, root):
        hint = "" if trust_symlinks else " (if it is a symlink, trust_symlinks=True / --trust-symlinks accepts it)"
        raise DatasetError(f"{dataset}: videos folder {path} is outside data_root {root}{hint}")
    return path


class VideoResolver:
    """Turns video paths from dataset rows into absolute paths under ``data_root`` (cached per text).

    A relative path is joined to each of ``bases`` (default: ``root``) in turn; among the
    candidates that stay under ``root``, the first that exists wins, else the first one (validation
    then reports it missing); bases outside ``root`` are ignored. :class:`RowError` for an empty
    path, a URL, or a path that leaves ``root``. Symlinks are followed and their target must stay
    under ``root`` too, unless ``trust_symlinks`` (then only the path as written must, and it is
    returned unresolved).
    """

    def __init__(self, root: Path, bases: Sequence[Path | None] = (), *, trust_symlinks: bool = False):
        self.root = os.fspath(root)
        self.trust_symlinks = trust_symlinks
        self._prefix = self.root if self.root.endswith(os.sep) else self.root + os.sep
        self.bases: list[str] = []
        for base in bases:  # keep distinct folders under root, in order; None entries are skipped
            text = os.path.normpath(base) if base is not None else None
            if text is not None and self._inside(text) and text not in self.bases:
                self.bases.append(text)
        self.bases = self.bases or [self.root]
        self._cache: dict[str, str | tuple[str, str]] = {}

    def __call__(self, raw: object) -> str:
        if not isinstance(raw, str) or not raw.strip():
            raise RowError(BAD_PATH, f"video path is empty or not text: {raw!r}")
        found = self._cache.get(raw)
        if found is None:
            try:
                found = self._resolve(raw.strip())
            except RowError as exc:
                found = (exc.kind, exc.detail)
            self._cache[raw] = found
        if isinstance(found, tuple):
            raise RowError(*found)
        return found

    def _inside(self, path: str) -> bool:
        return path == self.root or path.startswith(self._prefix)

    def _resolve(self, text: str) -> str:
        if _URL.match(text):
            raise RowError(BAD_PATH, f"video path is a URL, not a file under data_root: {text}")
        given = os.path.expanduser(text) if text.startswith("~") else text
        candidates = [os.path.normpath(os.path.join(base, given)) for base in self.bases]
        inside = [c for c in candidates if self._inside(c)]
        if not inside:
            raise RowError(
                OUTSIDE_ROOT, f"video path {text!r} resolves to {candidates[0]}, outside data_root {self.root}"
            )
        chosen = next((c for c in inside if os.path.exists(c)), inside[0])
        if self.trust_symlinks:
            return chosen
        real = os.path.realpath(chosen)
        if not self._inside(real):
            raise RowError(
                OUTSIDE_ROOT,
                f"video path {text!r} is a symlink to {real}, outside data_root {self.root} "
                "(trust_symlinks=True / --trust-symlinks accepts it)",
            )
        return real
