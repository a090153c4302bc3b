"""Pictures of what the judge saw: labelled frame grids and whole-episode contact sheets."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from vr_env.context import Context, FrameImage
from vr_env.video.resize import resize_frame

_BG = (24, 24, 24)
_FG = (235, 235, 235)
_VIDEO_COLOURS = {1: (80, 160, 255), 2: (255, 150, 60)}


def letterbox(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Fit ``image`` into ``(height, width)`` keeping its aspect ratio, padding with black.

    The resize is antialiased bilinear (:func:`vr_env.video.resize.resize_frame`: torchvision's
    where it imports, else PIL's; they differ by at most 1 grey level).
    """
    h, w = size
    src_h, src_w = image.shape[:2]
    scale = min(w / src_w, h / src_h)
    new_w, new_h = max(1, round(src_w * scale)), max(1, round(src_h * scale))
    canvas = np.zeros((h, w, 3), dtype=np.uint8)
    top, left = (h - new_h) // 2, (w - new_w) // 2
    canvas[top : top + new_h, left : left + new_w] = resize_frame(image, (new_h, new_w), bilinear=True)
    return canvas


def frame_grid(frames: Sequence[FrameImage], tile: tuple[int, int] = (112, 112), columns: int = 8) -> np.ndarray:
    """A grid of frames, each labelled ``V1 #7 (7)`` and outlined in its video's colour."""
    th, tw = tile
    label_h = 14
    columns = max(1, min(columns, len(frames) or 1))
    rows = max(1, -(-len(frames) // columns))
    sheet = Image.new("RGB", (columns * (tw + 4), rows * (th + label_h + 4)), _BG)
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    for i, frame in enumerate(frames):
        x, y = (i % columns) * (tw + 4) + 2, (i // columns) * (th + label_h + 4) + 2
        colour = _VIDEO_COLOURS.get(frame.video, _FG)
        draw.text((x + 2, y), f"V{frame.video} #{frame.position + 1} ({frame.frame_id})", fill=colour, font=font)
        sheet.paste(Image.fromarray(letterbox(frame.image, tile)), (x, y + label_h))
        draw.rectangle((x - 1, y + label_h - 1, x + tw, y + label_h + th), outline=colour)
    return np.asarray(sheet)


def episode_sheet(context: Context, tile: tuple[int, int] = (96, 96), width_chars: int = 110) -> np.ndarray:
    """The whole episode top to bottom: each turn's text, then the frames it showed.

    Evicted frames are drawn dimmed with a cross, as the judge no longer sees them.
    """
    font = ImageFont.load_default()
    blocks: list[Image.Image] = []
    for turn in context.turns:
        lines = [f"[{turn.role}{' - evicted' if turn.evicted else ''}]"]
        body = turn.text if turn.role != "system" else turn.text.split("\n")[0] + " (system prompt, abridged)"
        for para in body.splitlines() or [""]:
            lines.extend(textwrap.wrap(para, width_chars) or [""])
        lines = lines[:40]
        text_img = Image.new("RGB", (width_chars * 6 + 20, 12 * len(lines) + 8), _BG)
        ImageDraw.Draw(text_img).multiline_text((8, 4), "\n".join(lines), fill=_FG, font=font, spacing=2)
        blocks.append(text_img)
        if turn.frames:
            grid = Image.fromarray(frame_grid(turn.frames, tile, columns=8))
            if turn.evicted:
                grid = Image.blend(grid, Image.new("RGB", grid.size, _BG), 0.6)
                d = ImageDraw.Draw(grid)
                d.line((0, 0, grid.width, grid.height), fill=(200, 60, 60), width=2)
            blocks.append(grid)
    width = max(b.width for b in blocks)
    sheet = Image.new("RGB", (width, sum(b.height for b in blocks) + 4 * len(blocks)), _BG)
    y = 0
    for block in blocks:
        sheet.paste(block, (0, y))
        y += block.height + 4
    return np.asarray(sheet)


def save_episode_sheet(context: Context, path: str | Path) -> Path:
    """Write :func:`episode_sheet` as an image file (format from the suffix, e.g. ``.png``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(episode_sheet(context)).save(path)
    return path
