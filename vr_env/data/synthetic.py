"""The embedded synthetic benchmark (the environment's default dataset, registered as ``synthetic``).

Pair ``i`` is a pure function of ``(config, i)``: one scene and prompt, two procedurally rendered
clips with independently drawn, time-localized defects, and exact TA / VQ / MQ / OA labels derived
from those defects. Records hold small clip objects, not pixels. See ``docs/synthetic.md``.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from vr_env.data.base import DatasetError, PairDataset, register_dataset
from vr_env.data.records import DIMENSION_KEYS, PairRecord, VideoRef
from vr_env.data.synthetic_render import (
    BACKGROUNDS,
    COLOURS,
    DEFECT_KINDS,
    DIRECTIONS,
    KIND_DIMENSION,
    LOW_CONTRAST,
    SHAPES,
    Defect,
    ProceduralClip,
    Scene,
    window_length,
)
from vr_env.protocol.frames import ProtocolSpec
from vr_env.protocol.labels import overall_from_dimensions
from vr_env.video.sampling import uniform_indices

#: Minimum gap in raw frames between two defect windows of one video (when there is room).
WINDOW_GAP = 2


@dataclass(frozen=True)
class SyntheticConfig:
    """Parameters of the benchmark. ``defect_prob`` is the chance, per video and per dimension, that
    the video gets defects in that dimension (a float, or a mapping from ``TA``/``VQ``/``MQ``)."""

    n: int = 512
    seed: int = 0
    defect_extent: float = 0.1
    defect_prob: float | Mapping[str, float] = 0.5
    num_frames: int = 96
    fps: float = 24.0
    height: int = 112
    width: int = 112
    frames_per_video: int = 48
    initial_frames: int = 8
    severity_levels: int = 1
    min_severity: int = 1
    max_defects_per_dimension: int = 1
    kinds: tuple[str, ...] = tuple(KIND_DIMENSION)

    def __post_init__(self) -> None:
        problems: list[str] = []
        if isinstance(self.defect_prob, Mapping):
            unknown = set(self.defect_prob) - set(DIMENSION_KEYS)
            if unknown:
                problems.append(f"defect_prob has unknown dimensions {sorted(unknown)}")
            probs = {d: float(self.defect_prob.get(d, 0.0)) for d in DIMENSION_KEYS}
        else:
            probs = dict.fromkeys(DIMENSION_KEYS, float(self.defect_prob))
        object.__setattr__(self, "defect_prob", probs)
        object.__setattr__(self, "kinds", tuple(self.kinds))
        if not isinstance(self.n, (int, np.integer)) or self.n < 0:
            problems.append(f"n must be an integer >= 0, got {self.n!r}")
        if not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
            problems.append(f"seed must be an integer >= 0, got {self.seed!r}")
        if not 0.0 < self.defect_extent <= 1.0:
            problems.append(f"defect_extent must lie in (0, 1], got {self.defect_extent}")
        if any(not 0.0 <= p <= 1.0 for p in probs.values()):
            problems.append(f"defect_prob values must lie in [0, 1], got {probs}")
        if self.num_frames < 2:
            problems.append(f"num_frames must be >= 2, got {self.num_frames}")
        if not (math.isfinite(self.fps) and self.fps > 0):
            problems.append(f"fps must be a finite number > 0, got {self.fps}")
        if min(self.height, self.width) < 28:
            problems.append(f"height and width must be >= 28, got {self.height}x{self.width}")
        if self.frames_per_video < 1:
            problems.append(f"frames_per_video must be >= 1, got {self.frames_per_video}")
        if self.initial_frames < 2 or self.initial_frames % 2:
            problems.append(f"initial_frames must be an even number >= 2, got {self.initial_frames}")
        if self.severity_levels not in (1, 2):
            problems.append(f"severity_levels must be 1 or 2, got {self.severity_levels}")
        if not 1 <= self.min_severity <= max(self.severity_levels, 1):
            problems.append(
                f"min_severity must lie in 1..severity_levels ({self.severity_levels}), got {self.min_severity}"
            )
        if self.max_defects_per_dimension not in (1, 2, 3):
            problems.append(f"max_defects_per_dimension must be 1, 2 or 3, got {self.max_defects_per_dimension}")
        unknown_kinds = set(self.kinds) - set(KIND_DIMENSION)
        if unknown_kinds:
            problems.append(f"unknown defect kinds {sorted(unknown_kinds)}; known: {list(KIND_DIMENSION)}")
        if problems:
            raise ValueError("invalid synthetic config: " + "; ".join(problems))

    @property
    def base_window(self) -> int:
        """Defect window length in raw frames at severity 1 (at least 2 frames)."""
        return min(self.num_frames, max(2, round(self.defect_extent * self.num_frames)))

    @property
    def fingerprint(self) -> str:
        """Short hash of everything but ``n``: clips of different configs never share a path.

        ``min_severity`` enters only when it is not 1, so configs older than it keep their paths."""
        data = {k: v for k, v in asdict(self).items() if k != "n" and not (k == "min_severity" and v == 1)}
        return hashlib.sha1(json.dumps(data, sort_keys=True).encode()).hexdigest()[:8]


def synthetic_config(**options: Any) -> SyntheticConfig:
    """Build a config from keyword options, raising :class:`DatasetError` with a clear message."""
    known = {f.name for f in fields(SyntheticConfig)}
    unknown = set(options) - known
    if unknown:
        raise DatasetError(f"synthetic dataset: unknown options {sorted(unknown)}; known: {sorted(known)}")
    try:
        return SyntheticConfig(**options)
    except (TypeError, ValueError) as exc:
        raise DatasetError(f"synthetic dataset: {exc}") from exc


# -- frame positions ------------------------------------------------------------------------------


def candidate_frame_indices(num_frames: int, frames_per_video: int) -> np.ndarray:
    """Raw frame index of each of the F candidate positions (the frame source's own rule)."""
    return uniform_indices(num_frames, frames_per_video)


def initial_positions(frames_per_video: int, per_video: int = 4) -> np.ndarray:
    """0-based candidate positions of the initial frames of one video (:meth:`ProtocolSpec.initial_positions`)."""
    spec = ProtocolSpec(frames_per_video=frames_per_video, initial_frames=2 * per_video)
    return np.asarray(spec.initial_positions(), dtype=np.int64)


# -- drawing ---------------------------------------------------------------------------------------


def draw_scene(rng: np.random.Generator) -> Scene:
    background = str(rng.choice(list(BACKGROUNDS)))
    colours = [c for c in COLOURS if (background, c) not in LOW_CONTRAST]
    return Scene(
        shape=str(rng.choice(SHAPES)),
        colour=str(rng.choice(colours)),
        direction=str(rng.choice(list(DIRECTIONS))),
        background=background,
        lane=round(float(rng.uniform(0.3, 0.7)), 3),
    )


def draw_defects(rng: np.random.Generator, scene: Scene, config: SyntheticConfig) -> list[Defect]:
    """Defects of one video: per dimension, with probability ``defect_prob``, 1..max defects."""
    occupied = np.zeros(config.num_frames, dtype=bool)
    defects: list[Defect] = []
    for dim in DIMENSION_KEYS:
        kinds = [k for k in DEFECT_KINDS[dim] if k in config.kinds]
        if rng.random() >= config.defect_prob[dim] or not kinds:  # type: ignore[index]
            continue
        count = int(rng.integers(1, config.max_defects_per_dimension + 1))
        for kind in rng.choice(kinds, size=count, replace=count > len(kinds)).tolist():
            severity = int(rng.integers(config.min_severity, config.severity_levels + 1))
            length = min(config.num_frames, window_length(kind, severity, config.base_window))
            start = _place_window(rng, occupied, length)
            defects.append(Defect(kind, severity, start, start + length, _wrong_value(rng, kind, scene)))
    return sorted(defects, key=lambda d: d.start)


def _wrong_value(rng: np.random.Generator, kind: str, scene: Scene) -> str | None:
    if kind == "wrong_colour":
        return str(rng.choice([c for c in COLOURS if c != scene.colour and (scene.background, c) not in LOW_CONTRAST]))
    if kind == "wrong_shape":
        return str(rng.choice([s for s in SHAPES if s != scene.shape]))
    return None


def _place_window(rng: np.random.Generator, occupied: np.ndarray, length: int) -> int:
    """Uniform start among those keeping ``WINDOW_GAP`` frames from other windows; overlap if none."""
    n = occupied.size
    starts = np.arange(n - length + 1)
    cumulative = np.concatenate([[0], np.cumsum(occupied)])
    lo = np.clip(starts - WINDOW_GAP, 0, n)
    hi = np.clip(starts + length + WINDOW_GAP, 0, n)
    free = starts[cumulative[hi] - cumulative[lo] == 0]
    start = int(rng.choice(free)) if free.size else int(rng.integers(0, n - length + 1))
    occupied[start : start + length] = True
    return start


# -- labels ---------------------------------------------------------------------------------------


def severity_by_dimension(defects: Iterable[Defect | Mapping[str, Any]]) -> dict[str, int]:
    """Per dimension, the sum of the severities of the video's defects (0 = clean)."""
    totals = dict.fromkeys(DIMENSION_KEYS, 0)
    for d in defects:
        dim, severity = (d.dimension, d.severity) if isinstance(d, Defect) else (d["dimension"], d["severity"])
        totals[dim] += int(severity)
    return totals


def compare_severity(severity_1: int, severity_2: int) -> int:
    """1 if video 1 is less defective, 2 if video 2 is, 0 for a tie."""
    return 0 if severity_1 == severity_2 else (1 if severity_1 < severity_2 else 2)


def labels_from_defects(
    defects_1: Iterable[Defect | Mapping[str, Any]], defects_2: Iterable[Defect | Mapping[str, Any]]
) -> dict[str, int]:
    s1, s2 = severity_by_dimension(defects_1), severity_by_dimension(defects_2)
    labels = {d: compare_severity(s1[d], s2[d]) for d in DIMENSION_KEYS}
    return {**labels, "OA": overall_from_dimensions(labels)}


# -- records ----------------------------------------------------------------------------------------


def pair_id(config: SyntheticConfig, index: int) -> str:
    return f"synthetic-{config.seed}-{index:05d}"


def make_pair(index: int, config: SyntheticConfig | None = None) -> PairRecord:
    """Pair ``index`` of the benchmark: a pure function of ``(config, index)``."""
    config = config or SyntheticConfig()
    if index < 0:
        raise IndexError(f"pair index must be >= 0, got {index}")
    rng = np.random.default_rng((config.seed, index))
    scene = draw_scene(rng)
    defects = (draw_defects(rng, scene, config), draw_defects(rng, scene, config))
    pid = pair_id(config, index)
    candidates = candidate_frame_indices(config.num_frames, config.frames_per_video)
    initial = initial_positions(config.frames_per_video, config.initial_frames // 2)
    refs = []
    for video, video_defects in enumerate(defects, start=1):
        clip = ProceduralClip(
            scene,
            video_defects,
            num_frames=config.num_frames,
            fps=config.fps,
            height=config.height,
            width=config.width,
            noise_key=(config.seed, index, video),
        )
        path = f"synthetic:{config.fingerprint}/{pid}/{video}"
        refs.append(VideoRef(path, fps=config.fps, num_frames=config.num_frames, model="synthetic", clip=clip))
    meta = {
        "source": "synthetic",
        "seed": int(config.seed),
        "index": int(index),
        "scene": scene.to_dict(),
        "frames_per_video": config.frames_per_video,
        "initial_positions": initial.tolist(),
        "defects": {
            f"video_{v}": [_defect_meta(d, v, candidates, initial, config.frames_per_video) for d in ds]
            for v, ds in enumerate(defects, start=1)
        },
        "severity": {f"video_{v}": severity_by_dimension(ds) for v, ds in enumerate(defects, start=1)},
    }
    return PairRecord(pid, scene.prompt, refs[0], refs[1], labels_from_defects(*defects), meta=meta)


def _defect_meta(
    defect: Defect, video: int, candidates: np.ndarray, initial: np.ndarray, frames_per_video: int
) -> dict[str, Any]:
    positions = np.flatnonzero((candidates >= defect.start) & (candidates < defect.end))
    offset = (video - 1) * frames_per_video
    return {
        **defect.to_dict(),
        "positions": positions.tolist(),
        "position_start": int(positions[0]) if positions.size else None,
        "position_end": int(positions[-1]) + 1 if positions.size else None,
        "frame_ids": (positions + offset + 1).tolist(),
        "seen_initially": bool(np.isin(positions, initial).any()),
    }


class SyntheticDataset(PairDataset):
    """``config.n`` pairs of the synthetic benchmark; ``config`` is kept for reference."""

    name = "synthetic"

    def __init__(self, config: SyntheticConfig | None = None) -> None:
        self.config = config or SyntheticConfig()
        super().__init__([make_pair(i, self.config) for i in range(self.config.n)])


@register_dataset("synthetic")
def load_synthetic(data_root: Path | None = None, **options: Any) -> SyntheticDataset:
    """Factory for ``load_dataset("synthetic", n=512, seed=0, defect_extent=0.1, ...)``.

    ``data_root`` is ignored: the benchmark is generated, not read.
    """
    return SyntheticDataset(synthetic_config(**options))


# -- statistics -------------------------------------------------------------------------------------


def initial_view_stats(records: Sequence[PairRecord]) -> dict[str, float]:
    """How much the initial frames miss, from ``meta`` (records not from this module are skipped).

    ``labels_wrong_from_initial`` / ``oa_wrong_from_initial``: share of pairs where labels computed
    from only the defects visible in the initial frames differ from the true labels (any key / OA).
    """
    pairs = defects = missed = any_missed = all_missed = wrong_any = wrong_oa = 0
    for record in records:
        meta = record.meta
        if meta.get("source") != "synthetic":
            continue
        pairs += 1
        lists = [meta["defects"]["video_1"], meta["defects"]["video_2"]]
        flat = lists[0] + lists[1]
        unseen = [d for d in flat if not d["seen_initially"]]
        defects += len(flat)
        missed += len(unseen)
        any_missed += bool(unseen)
        all_missed += bool(flat) and len(unseen) == len(flat)
        seen_labels = labels_from_defects(*[[d for d in ds if d["seen_initially"]] for ds in lists])
        true_labels = labels_from_defects(*lists)
        wrong_any += seen_labels != true_labels
        wrong_oa += seen_labels["OA"] != true_labels["OA"]
    share = (lambda x: x / pairs) if pairs else (lambda x: 0.0)
    return {
        "pairs": pairs,
        "defects_per_pair": defects / pairs if pairs else 0.0,
        "defect_miss_rate": missed / defects if defects else 0.0,
        "pairs_with_missed_defect": share(any_missed),
        "pairs_all_defects_missed": share(all_missed),
        "labels_wrong_from_initial": share(wrong_any),
        "oa_wrong_from_initial": share(wrong_oa),
    }


__all__ = [
    "SyntheticConfig",
    "SyntheticDataset",
    "candidate_frame_indices",
    "initial_positions",
    "initial_view_stats",
    "labels_from_defects",
    "load_synthetic",
    "make_pair",
    "synthetic_config",
]
