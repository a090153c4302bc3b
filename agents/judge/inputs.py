"""Videos arriving over HTTP: a path under the configured root, or inline base64 bytes with a size limit.

Each is checked before it reaches the queue, so a bad input never fails a batch. Two kinds of
problem (:class:`VideoInputError`):

- the request's fault (a 4xx for the whole request): no video root, a path outside it, a malformed
  path (NUL, a leading ``~``, a name too long, a symlink loop), inline bytes that are not base64, an
  unknown format, inline bytes over ``max_inline_bytes``;
- the data's fault (``unreadable=True``: the server makes only that video's pairs unscorable): a
  missing file, a container that does not open or has no frames (``FrameSource.num_frames``), an
  ``npy`` that is not a frame array.

Every video gets a content hash (SHA-256 of its bytes; files hashed once per size and mtime), the
cache's identity. Inline container bytes go to the spool folder under their hash, reference-counted
by the requests using them: :meth:`VideoResolver.release` deletes a file when its last request ends.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vr_env.data.inmemory import ArrayClip
from vr_env.video.errors import VideoError
from vr_env.video.ref import VideoRef

#: Inline container formats accepted (written to the server's spool folder) and "npy" frame arrays.
INLINE_FORMATS: tuple[str, ...] = ("mp4", "webm", "mkv", "mov", "avi", "gif", "npy")


class VideoInputError(ValueError):
    """A video input the server refuses; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str, *, unreadable: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.unreadable = unreadable


@dataclass(frozen=True)
class ResolvedVideo:
    """A checked video: its reference, content hash and (inline container) spool file, if any."""

    ref: VideoRef
    digest: str
    spooled: str | None = None


class VideoResolver:
    """Turns request videos into checked :class:`VideoRef` objects with content hashes."""

    def __init__(
        self, video_root: str | Path | None, spool_dir: str | Path, max_inline_bytes: int, frame_source: Any = None
    ) -> None:
        self.root = None if video_root is None else Path(video_root).expanduser().resolve()
        self.spool = Path(spool_dir)
        self.spool.mkdir(parents=True, exist_ok=True)
        self.max_inline_bytes = max_inline_bytes
        if frame_source is None:
            from vr_env.video.source import FrameSource

            frame_source = FrameSource()
        self.frame_source = frame_source
        self._hashes: OrderedDict[tuple[str, int, int], str] = OrderedDict()
        self._lock = threading.Lock()
        self._spooled: dict[str, int] = {}  # spool file name -> requests holding it

    def resolve(self, path: str | None = None, data: str | None = None, fmt: str = "mp4") -> ResolvedVideo:
        if (path is None) == (data is None):
            raise VideoInputError(422, "give a video as exactly one of 'path' or 'data' (base64)")
        if path is not None:
            return self._path(path)
        assert data is not None
        return self._inline(data, fmt)

    # ------------------------------------------------------------------ paths
    def _path(self, raw: str) -> ResolvedVideo:
        if self.root is None:
            raise VideoInputError(403, "this server takes no video paths (started without --video-root); send 'data'")
        if "\x00" in raw:
            raise VideoInputError(422, "a video path must not contain NUL characters")
        if raw.startswith("~"):
            raise VideoInputError(
                422,
                f"video path {raw!r} starts with '~': home folders are not expanded; give a path under the video root",
            )
        candidate = Path(raw)
        try:
            full = (candidate if candidate.is_absolute() else self.root / candidate).resolve()
        except RuntimeError as error:  # Python 3.11: a symlink loop
            raise VideoInputError(422, f"video path {raw!r} cannot be resolved: {error}") from None
        except OSError as error:
            raise VideoInputError(422, f"video path {raw!r} cannot be resolved: {error.strerror or error}") from None
        if full != self.root and self.root not in full.parents:
            raise VideoInputError(403, f"video path {raw!r} is outside the video root {str(self.root)!r}")
        try:
            found = full.is_file()
            stat = full.stat() if found else None
        except OSError as error:
            raise VideoInputError(422, f"video path {raw!r} is not usable: {error.strerror or error}") from None
        if stat is None:
            raise VideoInputError(404, f"video not found: {raw!r} (looked for {str(full)!r})", unreadable=True)
        try:
            digest = self._file_hash(full, stat.st_size, stat.st_mtime_ns)
        except OSError as error:
            raise VideoInputError(
                403, f"video {raw!r} cannot be read: {error.strerror or error}", unreadable=True
            ) from None
        ref = VideoRef(str(full))
        self._probe(ref, raw)
        return ResolvedVideo(ref, digest)

    def _file_hash(self, path: Path, size: int, mtime_ns: int) -> str:
        key = (str(path), size, mtime_ns)
        with self._lock:
            if key in self._hashes:
                self._hashes.move_to_end(key)
                return self._hashes[key]
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        value = digest.hexdigest()
        with self._lock:
            self._hashes[key] = value
            while len(self._hashes) > 65536:
                self._hashes.popitem(last=False)
        return value

    def _probe(self, ref: VideoRef, name: str) -> None:
        try:
            frames = int(self.frame_source.num_frames(ref))
        except (VideoError, OSError) as error:
            raise VideoInputError(422, f"not a readable video: {name!r} ({error})", unreadable=True) from None
        if frames < 1:
            raise VideoInputError(422, f"not a readable video: {name!r} has no frames", unreadable=True)

    # ------------------------------------------------------------------ inline
    def _inline(self, data: str, fmt: str) -> ResolvedVideo:
        fmt = fmt.lower()
        if fmt not in INLINE_FORMATS:
            raise VideoInputError(422, f"unknown inline format {fmt!r}; choose one of {list(INLINE_FORMATS)}")
        if len(data) * 3 // 4 > self.max_inline_bytes + 3:
            raise VideoInputError(413, f"inline video is over the limit of {self.max_inline_bytes} bytes")
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise VideoInputError(422, "inline video 'data' is not valid base64") from None
        if len(raw) > self.max_inline_bytes:
            raise VideoInputError(413, f"inline video has {len(raw)} bytes; the limit is {self.max_inline_bytes}")
        digest = hashlib.sha256(raw).hexdigest()
        if fmt == "npy":
            try:
                array = np.load(io.BytesIO(raw), allow_pickle=False)
                clip = ArrayClip.from_frames(array)
            except (ValueError, OSError, EOFError) as error:
                raise VideoInputError(422, f"inline npy is not a frame array: {error}", unreadable=True) from None
            ref = VideoRef(f"array:{clip.digest}", fps=clip.fps, num_frames=clip.num_frames, clip=clip)
            return ResolvedVideo(ref, digest)
        path = self.spool / f"{digest}.{fmt}"
        with self._lock:
            self._spooled[path.name] = self._spooled.get(path.name, 0) + 1
            if not path.exists():
                tmp = path.with_suffix(f".{fmt}.{os.getpid()}.{threading.get_ident()}.part")
                tmp.write_bytes(raw)
                os.replace(tmp, path)
        resolved = ResolvedVideo(VideoRef(str(path)), digest, path.name)
        try:
            self._probe(resolved.ref, f"inline {fmt} ({len(raw)} bytes)")
        except VideoInputError:
            self.release([resolved])
            raise
        return resolved

    def release(self, videos: list[ResolvedVideo]) -> None:
        """A request is done with ``videos``: delete spool files no other request holds."""
        with self._lock:
            for video in videos:
                name = video.spooled
                if name is None or name not in self._spooled:
                    continue
                self._spooled[name] -= 1
                if self._spooled[name] <= 0:
                    del self._spooled[name]
                    (self.spool / name).unlink(missing_ok=True)

    def spool_files(self) -> int:
        """Inline videos currently in the spool folder."""
        return sum(1 for _ in self.spool.iterdir())
