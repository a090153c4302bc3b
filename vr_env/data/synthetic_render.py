"""Procedural clips of the synthetic benchmark: one shape crossing a plain background, plus defects.

A :class:`ProceduralClip` renders any frame on demand as a pure function of
``(scene, defects, noise_key, frame index)``, so rendering only the requested frames gives the same
pixels as rendering the whole clip. Defects are localized to a window ``[start, end)`` of raw
frames; see ``docs/synthetic.md`` for what each kind does and how strong it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

#: Object colours (RGB) by name.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 180, 60),
    "blue": (50, 90, 230),
    "yellow": (240, 210, 40),
    "purple": (150, 60, 200),
    "orange": (245, 140, 30),
}
#: Background colours (RGB) by name.
BACKGROUNDS: dict[str, tuple[int, int, int]] = {
    "grey": (128, 128, 128),
    "black": (20, 20, 20),
    "white": (235, 235, 235),
}
#: (background, colour) combinations with too little contrast; never drawn.
LOW_CONTRAST: frozenset[tuple[str, str]] = frozenset({("black", "blue"), ("black", "purple"), ("white", "yellow")})
SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "diamond")
#: Motion direction phrase -> unit vector (x, y) in image coordinates (y grows downwards).
DIRECTIONS: dict[str, tuple[int, int]] = {
    "left to right": (1, 0),
    "right to left": (-1, 0),
    "top to bottom": (0, 1),
    "bottom to top": (0, -1),
}

#: Defect kinds per judged dimension.
DEFECT_KINDS: dict[str, tuple[str, ...]] = {
    "TA": ("wrong_colour", "wrong_shape", "wrong_direction"),
    "VQ": ("noise", "blur", "blocking"),
    "MQ": ("jitter", "freeze", "jump"),
}
KIND_DIMENSION: dict[str, str] = {kind: dim for dim, kinds in DEFECT_KINDS.items() for kind in kinds}
#: Kinds without a strength parameter: severity 2 doubles their window instead.
DURATION_SCALED_KINDS: frozenset[str] = frozenset({"wrong_colour", "wrong_shape", "wrong_direction", "freeze"})

#: Strength per severity level (1, 2). Sizes are fractions of the shorter frame side.
NOISE_STD = (30.0, 55.0)  # Gaussian noise std in grey levels, per channel
BLUR_SIGMA = (2.0, 3.5)  # Gaussian blur sigma in pixels
BLOCK_SIZE = (8, 16)  # block averaging size in pixels
JITTER_AMPLITUDE = (0.06, 0.12)  # per-frame offset in [A/2, A] each axis (x alternating in sign)
JUMP_OFFSET = (0.25, 0.40)  # displacement across the motion axis
OBJECT_RADIUS = 0.11  # object radius
REVERSE_SPEED = 2.0  # inside a wrong_direction window the object runs backwards this much faster
_KIND_CODES = {kind: i for i, kind in enumerate(KIND_DIMENSION)}


@dataclass(frozen=True)
class Scene:
    """What the prompt describes: ``lane`` is the position across the motion axis, in [0, 1]."""

    shape: str
    colour: str
    direction: str
    background: str
    lane: float = 0.5

    def __post_init__(self) -> None:
        if self.shape not in SHAPES:
            raise ValueError(f"unknown shape {self.shape!r}; choose one of {SHAPES}")
        if self.colour not in COLOURS:
            raise ValueError(f"unknown colour {self.colour!r}; choose one of {tuple(COLOURS)}")
        if self.direction not in DIRECTIONS:
            raise ValueError(f"unknown direction {self.direction!r}; choose one of {tuple(DIRECTIONS)}")
        if self.background not in BACKGROUNDS:
            raise ValueError(f"unknown background {self.background!r}; choose one of {tuple(BACKGROUNDS)}")
        if not 0.2 <= self.lane <= 0.8:
            raise ValueError(f"lane must lie in [0.2, 0.8], got {self.lane}")

    @property
    def prompt(self) -> str:
        article = "An" if self.colour[0] in "aeiou" else "A"
        return (
            f"{article} {self.colour} {self.shape} moves from {self.direction} across a {self.background} background."
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Defect:
    """One defect active on raw frames ``start <= t < end``.

    ``value`` is the wrong colour or shape name for ``wrong_colour`` / ``wrong_shape``, else None.
    """

    kind: str
    severity: int
    start: int
    end: int
    value: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KIND_DIMENSION:
            raise ValueError(f"unknown defect kind {self.kind!r}; choose one of {tuple(KIND_DIMENSION)}")
        if self.severity not in (1, 2):
            raise ValueError(f"defect severity must be 1 or 2, got {self.severity}")
        if not 0 <= self.start < self.end:
            raise ValueError(f"defect window must satisfy 0 <= start < end, got [{self.start}, {self.end})")
        if self.kind == "wrong_colour" and self.value not in COLOURS:
            raise ValueError(f"wrong_colour needs a colour name as value, got {self.value!r}")
        if self.kind == "wrong_shape" and self.value not in SHAPES:
            raise ValueError(f"wrong_shape needs a shape name as value, got {self.value!r}")

    @property
    def dimension(self) -> str:
        return KIND_DIMENSION[self.kind]

    def covers(self, frame: int) -> bool:
        return self.start <= frame < self.end

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "dimension": self.dimension, **asdict(self)}


def window_length(kind: str, severity: int, base_length: int) -> int:
    """Window length in raw frames: doubled at severity 2 for kinds without a strength parameter."""
    return base_length * (2 if severity == 2 and kind in DURATION_SCALED_KINDS else 1)


class ProceduralClip:
    """A rendered-on-demand clip implementing the ``SyntheticClip`` protocol of ``records.py``."""

    def __init__(
        self,
        scene: Scene,
        defects: Sequence[Defect] = (),
        *,
        num_frames: int = 96,
        fps: float = 24.0,
        height: int = 112,
        width: int = 112,
        noise_key: tuple[int, ...] = (0,),
    ) -> None:
        if num_frames < 2:
            raise ValueError(f"num_frames must be >= 2, got {num_frames}")
        if not fps > 0:
            raise ValueError(f"fps must be > 0, got {fps}")
        if min(height, width) < 16:
            raise ValueError(f"frame size must be at least 16x16, got {height}x{width}")
        for defect in defects:
            if defect.end > num_frames:
                raise ValueError(
                    f"defect {defect.kind} window [{defect.start}, {defect.end}) exceeds {num_frames} frames"
                )
        if any(k < 0 for k in noise_key):
            raise ValueError(f"noise_key entries must be >= 0, got {noise_key}")
        self.scene = scene
        self.defects: tuple[Defect, ...] = tuple(defects)
        self.num_frames = int(num_frames)
        self.fps = float(fps)
        self.height = int(height)
        self.width = int(width)
        self.noise_key = tuple(int(k) for k in noise_key)
        self._progress = _path_progress(self.num_frames, [d for d in self.defects if d.kind == "wrong_direction"])
        self._ys = np.arange(self.height, dtype=np.float32)[:, None] + 0.5
        self._xs = np.arange(self.width, dtype=np.float32)[None, :] + 0.5

    def __repr__(self) -> str:
        kinds = ", ".join(f"{d.kind}[{d.start}:{d.end}]" for d in self.defects) or "none"
        return f"ProceduralClip({self.scene.prompt!r}, defects: {kinds})"

    def clean(self) -> ProceduralClip:
        """The same clip without any defect (same scene, size and timing)."""
        return self.with_defects(())

    def with_defects(self, defects: Sequence[Defect]) -> ProceduralClip:
        return ProceduralClip(
            self.scene,
            defects,
            num_frames=self.num_frames,
            fps=self.fps,
            height=self.height,
            width=self.width,
            noise_key=self.noise_key,
        )

    def render(self, frame_indices: np.ndarray | Sequence[int]) -> np.ndarray:
        """uint8 frames ``(len(frame_indices), height, width, 3)``; each frame depends only on its index."""
        indices = np.asarray(frame_indices).reshape(-1)
        if indices.size and not np.issubdtype(indices.dtype, np.integer):
            if not np.all(np.equal(np.mod(indices, 1), 0)):
                raise ValueError(f"frame indices must be integers, got {indices.tolist()}")
            indices = indices.astype(np.int64)
        bad = indices[(indices < 0) | (indices >= self.num_frames)]
        if bad.size:
            raise IndexError(f"frame indices {bad.tolist()} out of range 0..{self.num_frames - 1}")
        out = np.empty((indices.size, self.height, self.width, 3), dtype=np.uint8)
        for i, t in enumerate(indices.tolist()):
            out[i] = self._render_frame(int(t))
        return out

    # -- one frame -----------------------------------------------------------------------------

    def _active(self, kind: str, frame: int) -> Defect | None:
        for defect in self.defects:
            if defect.kind == kind and defect.covers(frame):
                return defect
        return None

    def _rng(self, frame: int, kind: str) -> np.random.Generator:
        return np.random.default_rng((*self.noise_key, frame, _KIND_CODES[kind]))

    def _render_frame(self, frame: int) -> np.ndarray:
        freeze = self._active("freeze", frame)
        src = freeze.start if freeze is not None else frame
        scene = self.scene
        side = float(min(self.height, self.width))
        cx, cy = self._centre(src)
        if (d := self._active("jitter", src)) is not None:
            amplitude = JITTER_AMPLITUDE[d.severity - 1] * side
            rng = self._rng(src, "jitter")
            # x alternates in sign every frame (a shake of at least `amplitude` per step), y is random
            signs = np.array([1.0 if src % 2 else -1.0, rng.choice((-1.0, 1.0))])
            offset = rng.uniform(0.5, 1.0, 2) * amplitude * signs
            cx, cy = cx + offset[0], cy + offset[1]
        if (d := self._active("jump", src)) is not None:
            dx, dy = DIRECTIONS[scene.direction]
            sign = 1.0 if scene.lane < 0.5 else -1.0
            offset = sign * JUMP_OFFSET[d.severity - 1] * side
            cx, cy = cx + abs(dy) * offset, cy + abs(dx) * offset
        shape_defect = self._active("wrong_shape", src)
        colour_defect = self._active("wrong_colour", src)
        shape = shape_defect.value if shape_defect is not None else scene.shape
        colour = colour_defect.value if colour_defect is not None else scene.colour
        alpha = _coverage(str(shape), self._xs - cx, self._ys - cy, OBJECT_RADIUS * side)[..., None]
        bg = np.asarray(BACKGROUNDS[scene.background], dtype=np.float32)
        fg = np.asarray(COLOURS[str(colour)], dtype=np.float32)
        image = bg + alpha * (fg - bg)
        if (d := self._active("blur", src)) is not None:
            image = gaussian_blur(image, BLUR_SIGMA[d.severity - 1])
        if (d := self._active("blocking", src)) is not None:
            image = block_average(image, BLOCK_SIZE[d.severity - 1])
        if (d := self._active("noise", src)) is not None:
            noise = self._rng(src, "noise").standard_normal(image.shape, dtype=np.float32)
            image = image + NOISE_STD[d.severity - 1] * noise
        return np.clip(np.rint(image), 0, 255).astype(np.uint8)

    def _centre(self, frame: int) -> tuple[float, float]:
        """Object centre (x, y) in pixels at a raw frame, before jitter / jump offsets."""
        scene = self.scene
        dx, dy = DIRECTIONS[scene.direction]
        progress = float(self._progress[frame])
        radius = OBJECT_RADIUS * min(self.height, self.width)
        along_size = self.width if dx else self.height
        across_size = self.height if dx else self.width
        margin = radius + 2.0
        along = margin + progress * (along_size - 2 * margin)
        if dx + dy < 0:
            along = along_size - along
        across = scene.lane * across_size
        return (along, across) if dx else (across, along)


def _path_progress(num_frames: int, reversals: Sequence[Defect]) -> np.ndarray:
    """Fraction of the crossing done at each raw frame; reversed inside ``wrong_direction`` windows.

    The effective time runs backwards (``REVERSE_SPEED`` times faster) inside a reversal window; it
    is then rescaled to [0, 1] so the object still starts at one edge and ends at the other.
    """
    t = np.arange(num_frames, dtype=np.float64)
    effective = t.copy()
    for d in reversals:
        effective -= (1.0 + REVERSE_SPEED) * np.clip(t - d.start, 0.0, d.end - d.start)
    low, high = effective.min(), effective.max()
    return (effective - low) / (high - low) if high > low else np.zeros(num_frames)


def _coverage(shape: str, dx: np.ndarray, dy: np.ndarray, radius: float) -> np.ndarray:
    """Anti-aliased coverage in [0, 1] from a signed distance (positive inside), so sub-pixel
    motion always changes pixels."""
    if shape == "circle":
        sdf = radius - np.sqrt(dx * dx + dy * dy)
    elif shape == "square":
        half = 0.85 * radius
        sdf = np.minimum(half - np.abs(dx), half - np.abs(dy))
    elif shape == "diamond":
        sdf = (1.2 * radius - (np.abs(dx) + np.abs(dy))) / np.sqrt(2.0)
    elif shape == "triangle":
        half_base, height = 1.05 * radius, 1.8 * radius
        top = -radius
        bottom = top + height
        norm = np.hypot(height, half_base)
        sides = ((dy - top) * half_base - np.abs(dx) * height) / norm
        sdf = np.minimum(bottom - dy, sides)
    else:
        raise ValueError(f"unknown shape {shape!r}")
    return np.clip(sdf + 0.5, 0.0, 1.0).astype(np.float32)


def gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur of a float ``(H, W, C)`` image with edge padding."""
    radius = max(1, int(3.0 * sigma + 0.5))
    x = np.arange(-radius, radius + 1, dtype=np.float32)
    kernel = np.exp(-(x * x) / (2.0 * sigma * sigma))
    kernel /= kernel.sum()
    padded = np.pad(image, ((radius, radius), (radius, radius), (0, 0)), mode="edge")
    rows = sliding_window_view(padded, 2 * radius + 1, axis=0) @ kernel
    return sliding_window_view(rows, 2 * radius + 1, axis=1) @ kernel


def block_average(image: np.ndarray, block: int) -> np.ndarray:
    """Replace every aligned ``block x block`` tile by its mean (JPEG-like blocking)."""
    h, w, c = image.shape
    ph, pw = -h % block, -w % block
    padded = np.pad(image, ((0, ph), (0, pw), (0, 0)), mode="edge")
    tiles = padded.reshape((h + ph) // block, block, (w + pw) // block, block, c).mean(axis=(1, 3))
    return np.repeat(np.repeat(tiles, block, axis=0), block, axis=1)[:h, :w]
