"""Which pairs a GRPO stage learns from: pass rates of recorded samples (difficulty filtering).

A GRPO group teaches nothing when its G trajectories score the same accuracy (all right or all
wrong: zero advantage; dynamic sampling drops and refills such groups, at the price of more
rollouts). Rejection sampling has already played several samples per pair with the same policy
and recorded them (``samples.jsonl``), so the pairs worth a GRPO stage are known before it starts:
those whose samples' accuracy rewards differ. This is the usual prompt filter by pass rate of RL
recipes (keep prompts the policy solves sometimes, not always, not never), read from recorded
rollouts rather than re-played.

>>> from agents.records import EpisodeRecord
>>> def sample(pair, accuracy):
...     return EpisodeRecord(episode=0, group=0, pair_index=pair, pair_id=str(pair), swapped=False, seed=None,
...                          reward_components={"accuracy": accuracy})
>>> rates = pass_rates([sample(3, 1.0), sample(3, 0.5), sample(5, 1.0), sample(5, 1.0)])
>>> rates[3], rates[5]
(PassRate(samples=2, accuracies=(0.5, 1.0)), PassRate(samples=2, accuracies=(1.0,)))
>>> informative_pairs([sample(3, 1.0), sample(3, 0.5), sample(5, 1.0), sample(5, 1.0)])
[3]
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from agents.records import EpisodeRecord, load_jsonl


@dataclass(frozen=True)
class PassRate:
    """One pair's recorded samples: how many, and the distinct accuracy rewards they scored (sorted)."""

    samples: int
    accuracies: tuple[float, ...]

    @property
    def informative(self) -> bool:
        """At least two samples that scored different accuracies (a group GRPO would learn from)."""
        return self.samples >= 2 and len(self.accuracies) >= 2


def _episodes(samples: str | Path | Iterable[EpisodeRecord]) -> Iterable[EpisodeRecord]:
    if isinstance(samples, str | Path):
        loaded = load_jsonl(samples)
        if not loaded.episodes:
            problems = (
                f" ({len(loaded.problems)} unreadable lines, first: {loaded.problems[0]})" if loaded.problems else ""
            )
            raise ValueError(f"no sample records in {samples}{problems}")
        return loaded.episodes
    return samples


def pass_rates(samples: str | Path | Iterable[EpisodeRecord]) -> dict[int, PassRate]:
    """Per pair index, its samples' count and distinct accuracy rewards (a file, a folder or records).

    The accuracy is the environment's ``accuracy`` reward component (the one dynamic sampling compares);
    an episode without it (no answer) counts as 0.
    """
    found: dict[int, list[float]] = {}
    for episode in _episodes(samples):
        accuracy = float(episode.reward_components.get("accuracy", 0.0))
        found.setdefault(int(episode.pair_index), []).append(round(accuracy, 6))
    return {pair: PassRate(len(values), tuple(sorted(set(values)))) for pair, values in sorted(found.items())}


def informative_pairs(samples: str | Path | Iterable[EpisodeRecord], *, exclude: Sequence[int] = ()) -> list[int]:
    """Sorted pair indices whose recorded samples disagree on accuracy, minus ``exclude`` (e.g. held-out pairs)."""
    skip = set(exclude)
    return [pair for pair, rate in pass_rates(samples).items() if rate.informative and pair not in skip]
