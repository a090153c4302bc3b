"""Cheap container checks for video files: a few reads per file, no decoding.

``validate-data`` runs this on every video by default. It catches files that are cut short or are
not videos at all; it does not check the coded frames (``--decode`` does that).

- MP4 / MOV (ISO base media): the top-level boxes must tile the file exactly (a box running past
  the end of the file means a truncated download) and the ``moov`` index box must be present.
- AVI: the RIFF size must fit in the file. Matroska / WebM, Ogg, MPEG-TS / -PS, FLV, GIF: the
  signature is recognised, the rest is not checked.
- Anything else: not recognised, reported as such (decoders may still read it).

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "cut.mp4"
>>> _ = path.write_bytes((24).to_bytes(4, "big") + b"ftypisom" + bytes(12) + (999).to_bytes(4, "big") + b"mdat")
>>> check_container(path)
('mp4', 'truncated: the mdat box at byte 24 needs 999 bytes but the file ends at byte 32')
"""

from __future__ import annotations

import struct
from pathlib import Path

#: Boxes that may start an ISO base media file.
_MP4_FIRST = {b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip", b"pnot", b"uuid"}
#: Top-level boxes walked before giving up (a real file has a handful).
_MAX_BOXES = 10_000

_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\x1a\x45\xdf\xa3", "matroska/webm"),
    (0, b"OggS", "ogg"),
    (0, b"FLV", "flv"),
    (0, b"GIF87a", "gif"),
    (0, b"GIF89a", "gif"),
    (0, b"\x00\x00\x01\xba", "mpeg-ps"),
)


def check_container(path: str | Path) -> tuple[str | None, str | None]:
    """``(container, problem)``: the container recognised (``None`` if not) and what is wrong (``None`` if nothing)."""
    file = Path(path)
    with file.open("rb") as handle:
        head = handle.read(16)
        size = file.stat().st_size
        if len(head) >= 8 and head[4:8] in _MP4_FIRST:
            return "mp4", _check_mp4(handle, size)
        if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
            riff = struct.unpack("<I", head[4:8])[0] + 8
            return (
                "avi",
                None if riff <= size else f"truncated: the RIFF header needs {riff} bytes, the file has {size}",
            )
        if head[:1] == b"\x47" and size >= 189:
            handle.seek(188)
            if handle.read(1) == b"\x47":
                return "mpeg-ts", None
        for offset, magic, name in _SIGNATURES:
            if head[offset : offset + len(magic)] == magic:
                return name, None
    return None, None


def _check_mp4(handle: object, size: int) -> str | None:
    offset, seen = 0, set()
    for _ in range(_MAX_BOXES):
        if offset == size:
            break
        handle.seek(offset)  # type: ignore[attr-defined]
        header = handle.read(16)  # type: ignore[attr-defined]
        if len(header) < 8:
            return f"truncated: {size - offset} stray byte(s) at byte {offset}, too few for a box header"
        box_size, kind = struct.unpack(">I", header[:4])[0], header[4:8]
        name = kind.decode("latin-1")
        if box_size == 1:
            if len(header) < 16:
                return f"truncated: the {name} box header at byte {offset} is cut off"
            box_size = struct.unpack(">Q", header[8:16])[0]
        elif box_size == 0:  # the box runs to the end of the file
            box_size = size - offset
        if box_size < 8:
            return f"corrupt: the {name} box at byte {offset} has an impossible size {box_size}"
        seen.add(kind)
        if offset + box_size > size:
            return f"truncated: the {name} box at byte {offset} needs {box_size} bytes but the file ends at byte {size}"
        offset += box_size
    if b"moov" not in seen:
        return "incomplete: no moov box (the index of the frames), e.g. an unfinished recording or download"
    return None
