"""``VideoError``: every failure of the video layer, with the file it concerns in the message."""

from __future__ import annotations

import os
import re

# decord prefixes messages with "[hh:mm:ss] /src/file.cc:123: " (sometimes several times).
_DECORD_PREFIX = re.compile(r"\[\d{2}:\d{2}:\d{2}\] \S+:\d+: ")


class VideoError(ValueError):
    """A video that cannot be used: missing, empty, truncated, not a video, unsupported, or a bad request.

    ``path`` is the file (or ``synthetic:`` name) and ``reason`` the explanation; ``str(error)`` names both.
    The backend's own exception, when there was one, is kept in ``backend_error`` (not chained, so that
    users see one clear message instead of a decoder traceback).
    """

    def __init__(self, path: str, reason: str, backend_error: BaseException | None = None) -> None:
        self.path = str(path)
        self.reason = reason
        self.backend_error = backend_error
        super().__init__(f"video {self.path!r}: {reason}")

    def __reduce__(self):  # keep the exception picklable across processes
        return (type(self), (self.path, self.reason))


def check_file(path: str) -> os.stat_result:
    """Stat ``path`` and raise ``VideoError`` if it is missing, not a regular file or empty."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise VideoError(path, "file not found") from None
    except OSError as exc:
        raise VideoError(path, f"cannot be read ({exc.strerror or exc})") from None
    if not os.path.isfile(path):
        raise VideoError(path, "is not a regular file")
    if st.st_size == 0:
        raise VideoError(path, "file is empty (0 bytes)")
    return st


def _short(exc: BaseException) -> str:
    """First line of a backend message, trimmed (decord appends C++ stack traces)."""
    text = _DECORD_PREFIX.sub("", str(exc)).strip().splitlines()
    first = next((line.strip() for line in text if line.strip()), type(exc).__name__)
    return first[:200]


def _looks_like_text(head: bytes) -> bool:
    if not head or b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def open_failure(path: str, exc: BaseException) -> VideoError:
    """Explain why a backend could not open ``path`` (called after ``check_file`` passed)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError:
        head = b""
    if _looks_like_text(head):
        return VideoError(path, "is not a video (the file holds text)", exc)
    if len(head) >= 8 and head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide"):
        return VideoError(path, f"truncated or corrupt MP4/MOV (no readable index): {_short(exc)}", exc)
    return VideoError(path, f"not a readable video (corrupt, truncated or unsupported format): {_short(exc)}", exc)


def decode_failure(path: str, exc: BaseException) -> VideoError:
    """Explain a failure while decoding frames of a file that did open."""
    return VideoError(path, f"decoding failed (truncated or corrupt data?): {_short(exc)}", exc)
