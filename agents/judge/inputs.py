"""Videos arriving over HTTP: a path under the configured root, or inline base64 bytes with a size limit.

Each is checked before it reaches the queue (so a bad input is a 4xx, never a failed batch):
a path must resolve (symlinks followed) inside ``video_root`` and exist; inline bytes must decode
and stay under ``max_inline_bytes``; a container must open and report at least one frame
(``FrameSource.num_frames``); an ``npy`` array must be a valid frame array. Every video gets a
content hash (SHA-256 of its bytes; files hashed once per size and mtime), the cache's identity.
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

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class ResolvedVideo:
    ref: VideoRef
    digest: str


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
        candidate = Path(raw).expanduser()
        full = (candidate if candidate.is_absolute() else self.root / candidate).resolve()
        if full != self.root and self.root not in full.parents:
            raise VideoInputError(403, f"video path {raw!r} is outside the video root {str(self.root)!r}")
        if not full.is_file():
            raise VideoInputError(404, f"video not found: {raw!r} (looked for {str(full)!r})")
        stat = full.stat()
        digest = self._file_hash(full, stat.st_size, stat.st_mtime_ns)
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
        except VideoError as error:
            raise VideoInputError(422, f"not a readable video: {name!r} ({error})") from None
        if frames < 1:
            raise VideoInputError(422, f"not a readable video: {name!r} has no frames")

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
                raise VideoInputError(422, f"inline npy is not a frame array: {error}") from None
            ref = VideoRef(f"array:{clip.digest}", fps=clip.fps, num_frames=clip.num_frames, clip=clip)
            return ResolvedVideo(ref, digest)
        path = self.spool / f"{digest}.{fmt}"
        if not path.exists():
            tmp = path.with_suffix(f".{fmt}.{os.getpid()}.{threading.get_ident()}.part")
            tmp.write_bytes(raw)
            os.replace(tmp, path)
        ref = VideoRef(str(path))
        self._probe(ref, f"inline {fmt} ({len(raw)} bytes)")
        return ResolvedVideo(ref, digest)
