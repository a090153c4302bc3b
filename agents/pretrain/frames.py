"""Pretraining data for the miniature base: synthetic frames with their defect, as tensors and as chats.

Two kinds of example, both drawn from the synthetic benchmark's own renderer
(:class:`vr_env.data.synthetic_render.ProceduralClip`) with a seed of their own, so no frame of a
benchmark pair is ever used:

- a **single frame** (:func:`frame_bank`): a random scene at a random time, clean or with one defect
  of ``kinds`` over the whole clip; label 0 = clean, ``k`` = ``kinds[k - 1]``;
- a **pair view** (:func:`pair_view`): the frames a judge sees of two videos (the initial ones, or
  the initial and the fetched ones), each under the protocol's own frame label, and as the answer
  the per-video notes in the scanner's words (``V1: #3 noise. V2: nothing wrong seen.``), from the
  defects' true windows. This is the grounded-description data of the usual VLM recipe.

>>> frames, labels = frame_bank(4, kinds=("noise",), seed=0)
>>> frames.shape, frames.dtype, set(labels.tolist()) <= {0, 1}
((4, 112, 112, 3), dtype('uint8'), True)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from agents.judging import VideoFindings
from vr_env.config import EnvConfig
from vr_env.data.synthetic import SyntheticConfig, candidate_frame_indices, draw_defects, draw_scene
from vr_env.data.synthetic_render import KIND_DIMENSION, Defect, ProceduralClip
from vr_env.protocol import prompts

#: Question of a single-frame example and the answer words (the scanner's note words).
FRAME_QUESTION = "What is wrong in this frame?"
CLEAN_ANSWER = "nothing wrong seen"
#: Question of a pair view.
PAIR_QUESTION = "What is wrong in each video?"


def frame_bank(
    n: int,
    *,
    kinds: Sequence[str],
    severities: Sequence[int] = (2,),
    seed: int,
    num_frames: int = 96,
    size: int = 112,
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` uint8 frames ``(n, size, size, 3)`` and their labels (0 clean, ``k`` = ``kinds[k-1]``), a
    pure function of the arguments; the classes are drawn uniformly."""
    unknown = [k for k in kinds if k not in KIND_DIMENSION]
    if unknown or not kinds:
        raise ValueError(f"kinds must be defect kinds of the synthetic benchmark, got {list(kinds)}")
    frames = np.empty((n, size, size, 3), dtype=np.uint8)
    labels = np.empty(n, dtype=np.int64)
    for i in range(n):
        rng = np.random.default_rng([seed, i, 0xF4])
        scene = draw_scene(rng)
        label = int(rng.integers(0, len(kinds) + 1))
        defects = []
        if label:
            kind = kinds[label - 1]
            defects = [Defect(kind, int(rng.choice(severities)), 0, num_frames, _value(kind, scene))]
        clip = ProceduralClip(scene, defects, num_frames=num_frames, height=size, width=size, noise_key=(seed, i))
        frames[i] = clip.render([int(rng.integers(0, num_frames))])[0]
        labels[i] = label
    return frames, labels


def _value(kind: str, scene: Any) -> str | None:
    if kind == "wrong_colour":
        return "red" if scene.colour != "red" else "blue"
    if kind == "wrong_shape":
        return "circle" if scene.shape != "circle" else "square"
    return None


def frame_answer(label: int, kinds: Sequence[str]) -> str:
    """The answer text of a single-frame example."""
    return CLEAN_ANSWER if label == 0 else kinds[label - 1]


def frame_chat(image: Any, label: int | None, kinds: Sequence[str]) -> list[dict[str, Any]]:
    """A single-frame question as chat messages (with the answer when ``label`` is given)."""
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": [{"type": "image", "image": image}, {"type": "text", "text": FRAME_QUESTION}]}
    ]
    if label is not None:
        messages.append({"role": "assistant", "content": [{"type": "text", "text": frame_answer(label, kinds)}]})
    return messages


@dataclass(frozen=True)
class PairView:
    """The frames a judge sees of one pair, in the order shown, with their labels and the true notes."""

    frame_ids: tuple[int, ...]
    images: tuple[np.ndarray, ...]
    answer: str

    def chat(self, config: EnvConfig) -> list[dict[str, Any]]:
        content: list[dict[str, Any]] = []
        for frame_id, image in zip(self.frame_ids, self.images, strict=True):
            content += [
                {"type": "text", "text": prompts.frame_label(frame_id, config)},
                {"type": "image", "image": image},
            ]
        content.append({"type": "text", "text": PAIR_QUESTION})
        return [
            {"role": "user", "content": content},
            {"role": "assistant", "content": [{"type": "text", "text": self.answer}]},
        ]


def pair_view(index: int, synthetic: SyntheticConfig, env: EnvConfig, *, fetched: bool) -> PairView:
    """Pair ``index`` of a pretraining stream: two clips with defects drawn as the benchmark draws them,
    the initial frames (and with ``fetched`` the frames a scanner-like call adds, the rest of the
    candidates up to one call), and the true notes of the frames shown."""
    rng = np.random.default_rng([synthetic.seed, index, 0xA1])
    scene = draw_scene(rng)
    spec = env.protocol
    raw = candidate_frame_indices(synthetic.num_frames, spec.frames_per_video)
    initial = list(spec.initial_frame_ids())
    shown = list(initial)
    if fetched:
        rest = [p for p in range(spec.frames_per_video) if spec.frame_id(1, p) not in initial]
        rest = rest[: max(1, spec.max_frames_per_call // 2)]
        shown += [spec.frame_id(1, p) for p in rest] + [spec.frame_id(2, p) for p in rest]
    findings = {1: VideoFindings(), 2: VideoFindings()}
    clips: dict[int, ProceduralClip] = {}
    for video in (1, 2):
        defects = draw_defects(rng, scene, synthetic)
        clips[video] = ProceduralClip(
            scene,
            defects,
            num_frames=synthetic.num_frames,
            height=synthetic.height,
            width=synthetic.width,
            noise_key=(synthetic.seed, index, video),
        )
        for frame_id in shown:
            v, position = spec.locate(frame_id)
            for defect in defects if v == video else ():
                if defect.covers(int(raw[position])):
                    findings[video].add(defect.dimension, position, defect.kind.replace("_", " "))
    images = []
    for frame_id in shown:
        video, position = spec.locate(frame_id)
        images.append(clips[video].render([int(raw[position])])[0])
    answer = f"{findings[1].describe(1)}. {findings[2].describe(2)}."
    return PairView(tuple(shown), tuple(images), answer)
