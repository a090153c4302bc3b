"""A person as the judge, at the terminal (``vr-env play``, or ``vr-env eval --agent human``).

Every turn the visible frames are saved as a labelled sheet PNG whose path is printed. The person
types one line:

- frame numbers (``12 24 60-62``) to fetch them: a tool-call turn whose provisional answer is the
  answer typed on the same line (``12 60 TA=1 VQ=1 MQ=0 OA=1 CF=2``) or else the last one given
  (a low-confidence tie at first);
- an answer (``TA=1 VQ=2 MQ=0 OA=1``) to finish;
- anything after ``#`` is a note written into the turn's ``<Snapshot>``;
- ``help``, or ``quit`` (end of input also quits).

Input is read with ``input()`` (resolved at call time, so tests can feed it) and output goes through
``print``.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agents.baselines import protocol_of
from vr_env.protocol.frames import ProtocolSpec
from vr_env.protocol.labels import LABEL_KEYS
from vr_env.protocol.writers import final_turn, tool_turn

HELP_TEXT = (
    "Type frame numbers to fetch (e.g. '12 24 60-62'), optionally with a provisional answer and confidence "
    "('12 60 TA=1 VQ=1 MQ=0 OA=1 CF=2'), or a final answer ('TA=1 VQ=2 MQ=0 OA=1'). "
    "Values: 1 = video 1 better, 2 = video 2 better, 0 = tie. '# text' adds a note. 'quit' stops."
)
_PAIR = re.compile(r"\b(TA|VQ|MQ|OA|CF)\s*[=:]\s*(\S+?)(?=[\s,;]|$)", re.IGNORECASE)
_RANGE = re.compile(r"^(\d+)-(\d+)$")


class QuitPlay(Exception):
    """The person asked to stop (``quit`` or end of input)."""


@dataclass(frozen=True)
class Command:
    """One parsed input line: frames to fetch and/or answer values, a confidence and a note."""

    frames: tuple[int, ...] = ()
    values: Mapping[str, int] | None = None
    confidence: int | None = None
    note: str = ""


def parse_command(line: str, total_frames: int | None = None) -> Command:
    """Parse one typed line; ``ValueError`` with a message for the person when it makes no sense.

    >>> parse_command("3 5-7 TA=1 vq=2 MQ=0 OA=1 CF=2 # v2 blurs at 60")
    Command(frames=(3, 5, 6, 7), values={'TA': 1, 'VQ': 2, 'MQ': 0, 'OA': 1}, confidence=2, note='v2 blurs at 60')
    """
    body, _, note = line.partition("#")
    values: dict[str, int] = {}
    confidence = None
    for key, raw in _PAIR.findall(body):
        key = key.upper()
        if not raw.isdigit():
            raise ValueError(f"{key}={raw} is not a number")
        value = int(raw)
        if key == "CF":
            if value not in (1, 2, 3):
                raise ValueError("CF (confidence) must be 1 (high), 2 or 3 (low)")
            confidence = value
        elif value not in (0, 1, 2):
            raise ValueError(f"{key}={value}: use 1 (video 1 better), 2 (video 2 better) or 0 (tie)")
        else:
            values[key] = value
    rest = _PAIR.sub(" ", body).replace(",", " ").split()
    frames: list[int] = []
    for token in rest:
        match = _RANGE.match(token)
        if token.isdigit():
            frames.append(int(token))
        elif match:
            low, high = int(match.group(1)), int(match.group(2))
            if high < low:
                raise ValueError(f"range {token} goes backwards")
            frames.extend(range(low, high + 1))
        else:
            raise ValueError(f"cannot read {token!r}; type 'help' for the format")
    if total_frames is not None:
        bad = [f for f in frames if not 1 <= f <= total_frames]
        if bad:
            raise ValueError(f"frame(s) {bad[:5]} do not exist: frames are numbered 1-{total_frames}")
    if values and set(values) != set(LABEL_KEYS):
        missing = [k for k in LABEL_KEYS if k not in values]
        raise ValueError(f"an answer needs TA, VQ, MQ and OA; missing {', '.join(missing)}")
    return Command(tuple(dict.fromkeys(frames)), values or None, confidence, note.strip())


class HumanAgent:
    """The judge is whoever types at the terminal. Frame sheets go to ``out_dir``."""

    def __init__(
        self,
        out_dir: str | Path = "vr-env-play",
        input_fn: Callable[[str], str] | None = None,
        print_fn: Callable[..., None] | None = None,
        tile: int = 160,
    ) -> None:
        self.out_dir = Path(out_dir)
        self.input_fn = input_fn
        self.print_fn = print_fn
        self.tile = tile
        self.episode = 0
        self.turn = 0
        self.protocol = ProtocolSpec()
        self.provisional: dict[str, int] = dict.fromkeys(LABEL_KEYS, 0)
        self.sheets: list[Path] = []

    def _print(self, *args: Any) -> None:
        (self.print_fn or builtins.print)(*args)

    def _input(self, prompt: str) -> str:
        try:
            return (self.input_fn or builtins.input)(prompt)
        except EOFError:
            raise QuitPlay("end of input") from None

    def reset(self) -> None:
        self.episode += 1
        self.turn = 0
        self.provisional = dict.fromkeys(LABEL_KEYS, 0)
        self.sheets = []

    def save_sheet(self, observation: Mapping[str, Any], info: Mapping[str, Any]) -> Path:
        """Save the visible frames (full-size images from the context when available) as a PNG."""
        from PIL import Image

        from vr_env.context import FrameImage
        from vr_env.render import frame_grid

        context = info.get("context")
        if context is not None:
            frames = context.visible_frames()
        else:
            frames = []
            for k, frame_id in enumerate(observation.get("frame_ids", [])):
                if observation["frame_mask"][k]:
                    video, position = self.protocol.locate(int(frame_id))
                    frames.append(FrameImage(int(frame_id), video, position, "", np.asarray(observation["frames"][k])))
        columns = max(1, self.protocol.initial_frames // 2)
        sheet = frame_grid(frames, (self.tile, self.tile), columns=columns) if frames else np.zeros((8, 8, 3), np.uint8)
        path = self.out_dir / f"episode{self.episode:03d}_turn{self.turn + 1}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(sheet).save(path)
        self.sheets.append(path)
        return path

    def act(self, observation: Mapping[str, Any], info: Mapping[str, Any]) -> str:
        text = str(observation.get("text", ""))
        if self.turn == 0:
            self.protocol = protocol_of(info)
            start = text.find("Text prompt:")
            self._print(text[start:] if start >= 0 else text)
            self._print(
                f"\nFrames 1-{self.protocol.frames_per_video} are video 1, "
                f"{self.protocol.frames_per_video + 1}-{2 * self.protocol.frames_per_video} video 2. "
                f"Up to {self.protocol.max_tool_calls} fetches of at most {self.protocol.max_frames_per_call} frames."
            )
            self._print(HELP_TEXT)
        else:
            self._print(text)
        path = self.save_sheet(observation, info)
        visible = [
            int(i)
            for i, m in zip(observation.get("frame_ids", []), observation.get("frame_mask", []), strict=False)
            if m
        ]
        self._print(f"Visible frames {visible}: {path}")
        self.turn += 1
        while True:
            line = self._input(f"[turn {self.turn}] frames to fetch or TA= VQ= MQ= OA= > ").strip()
            if line.lower() in ("q", "quit", "exit"):
                raise QuitPlay("quit")
            if not line or line.lower() in ("h", "help", "?"):
                self._print(HELP_TEXT)
                continue
            try:
                command = parse_command(line, self.protocol.total_frames)
            except ValueError as exc:
                self._print(f"! {exc}")
                continue
            note = command.note or "Human judge."
            if command.frames:
                if command.values:
                    self.provisional = dict(command.values)
                confidence = command.confidence or (2 if command.values else 3)
                return tool_turn(note, "Looking closer.", self.provisional, confidence, command.frames)
            if command.values:
                return final_turn(note, "Decided.", command.values)
            self._print("! give frame numbers or an answer")
