"""FFmpeg's shared libraries for torchcodec, taken from PyAV's wheel.

torchcodec's wheel carries no FFmpeg: it loads ``libavutil.so.N`` and friends by their sonames,
through the dynamic loader's search path. PyAV's wheel bundles FFmpeg 8 (the sonames torchcodec's
``core8`` library wants) under hashed file names. :func:`pyav_library_path` gives them their sonames
(symbolic links in a cache folder) and returns an ``LD_LIBRARY_PATH`` value that offers them. The
loader reads ``LD_LIBRARY_PATH`` when a process starts, so set it for the process that decodes::

    LD_LIBRARY_PATH=$(python -m vr_env.video.ffmpeg_libs) vr-env eval ... --env-arg video_backend=torchcodec

Distribution FFmpeg packages serve as well (Debian 12: ``apt-get install libavcodec59 libavformat59
libavfilter8 libavdevice59 libswscale6``); see docs/video.md.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

#: ``libavcodec-5e6b81c2.so.62.28.102`` -> ``libavcodec.so.62``
_BUNDLED = re.compile(r"^(lib(?:av|sw)[a-z]+)-[0-9a-f]{8}\.so\.(\d+)(?:\.\d+)*$")


def pyav_libs_dir() -> Path:
    """The folder of the shared libraries bundled in PyAV's wheel (``site-packages/av.libs``)."""
    import av

    folder = Path(av.__file__).resolve().parent.parent / "av.libs"
    if not folder.is_dir():
        raise FileNotFoundError(f"PyAV bundles no shared libraries here ({folder} is missing): install FFmpeg instead")
    return folder


def pyav_library_path(dest: str | Path | None = None) -> str:
    """An ``LD_LIBRARY_PATH`` under which torchcodec finds PyAV's FFmpeg (soname links made in ``dest``).

    ``dest`` defaults to ``$XDG_CACHE_HOME/vr-env/ffmpeg`` (``~/.cache/...``). The bundled folder comes
    second: the linked libraries find their own dependencies there.
    """
    libs = pyav_libs_dir()
    if dest is None:
        cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        dest = cache / "vr-env" / "ffmpeg"
    folder = Path(dest)
    folder.mkdir(parents=True, exist_ok=True)
    linked = 0
    for lib in sorted(libs.iterdir()):
        match = _BUNDLED.match(lib.name)
        if match is None:
            continue
        name = f"{match.group(1)}.so.{match.group(2)}"
        temporary = folder / f".{name}.{os.getpid()}"
        temporary.unlink(missing_ok=True)
        temporary.symlink_to(lib)
        os.replace(temporary, folder / name)  # atomic: processes may prepare the folder at once
        linked += 1
    if not linked:
        raise FileNotFoundError(f"no FFmpeg libraries found in {libs}")
    return f"{folder}{os.pathsep}{libs}"


if __name__ == "__main__":
    print(pyav_library_path())
