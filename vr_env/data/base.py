"""Dataset interface and registry: ``load_dataset(name, data_root=..., **kwargs)``."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from vr_env.data.records import PairRecord


class DatasetError(ValueError):
    """A dataset could not be loaded or a row is malformed; the message names the file and row."""


class PairDataset(Sequence[PairRecord]):
    """An indexable collection of :class:`PairRecord` with a name.

    Subclasses fill ``self.records``; ``self.problems`` lists rows that were skipped, each as a
    human-readable string naming the file and row.
    """

    name: str = "dataset"

    def __init__(self, records: Sequence[PairRecord], problems: Sequence[str] = (), name: str | None = None):
        self.records: list[PairRecord] = list(records)
        self.problems: list[str] = list(problems)
        if name is not None:
            self.name = name

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> PairRecord:  # type: ignore[override]
        return self.records[index]

    def __iter__(self) -> Iterator[PairRecord]:
        return iter(self.records)


DatasetFactory = Callable[..., PairDataset]
_REGISTRY: dict[str, DatasetFactory] = {}


def register_dataset(name: str) -> Callable[[DatasetFactory], DatasetFactory]:
    """Decorator registering a factory ``f(data_root: Path | None, **kwargs) -> PairDataset``."""

    def deco(factory: DatasetFactory) -> DatasetFactory:
        _REGISTRY[name] = factory
        return factory

    return deco


def dataset_names() -> list[str]:
    _import_builtin_loaders()
    return sorted(_REGISTRY)


def load_dataset(name: str, data_root: str | Path | None = None, **kwargs: Any) -> PairDataset:
    """Load a registered dataset by name (``synthetic``, ``videogen-rewardbench``, ...)."""
    _import_builtin_loaders()
    if name not in _REGISTRY:
        raise DatasetError(f"unknown dataset {name!r}; known datasets: {', '.join(sorted(_REGISTRY))}")
    root = Path(data_root).expanduser().resolve() if data_root is not None else None
    return _REGISTRY[name](root, **kwargs)


def _import_builtin_loaders() -> None:
    # Importing a loader module registers it. Kept lazy so `import vr_env` stays cheap.
    import importlib

    for module in ("synthetic", "videogen", "genai_bench", "mjbench", "generic"):
        try:
            importlib.import_module(f"vr_env.data.{module}")
        except ModuleNotFoundError as exc:  # a loader not written yet must not break the others
            if exc.name != f"vr_env.data.{module}":
                raise
