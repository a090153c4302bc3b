"""FrameSource on real files written in tmp_path: sharing, strategies, real counts, every error case."""

import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from vr_env.data.records import VideoRef
from vr_env.video import FrameCache, FrameSource, VideoError, backend_available, get_backend, shared_frame_cache

PATCH = 28 * 28
BACKENDS = [
    pytest.param(name, marks=pytest.mark.skipif(not backend_available(name), reason=f"{name} not installed"))
    for name in ("decord", "pyav")
]


def frame_pattern(i: int, height: int, width: int) -> np.ndarray:
    """Frame ``i`` (< 64): a flat colour with red = 4 i (robust to H.264 loss) and a moving bar."""
    img = np.empty((height, width, 3), np.uint8)
    img[...] = (4 * i, 128, 255 - 4 * i)
    img[:, (3 * i) % width, 1] = 255
    return img


def frame_number(image: np.ndarray) -> int:
    """Which ``frame_pattern`` frame an image shows.

    The median skips the bar (whose chroma bleeds into red); H.264 with 4:2:0 chroma darkens the red
    level of these clips by 0 to 3 (measured with av 18.1), hence the +0.3 frame offset before rounding.
    """
    return round(float(np.median(image[..., 0])) / 4 + 0.3)


def write_mp4(
    path: Path, num_frames: int = 24, width: int = 64, height: int = 48, gop: int | None = None, **options: str
) -> Path:
    """A tiny H.264 mp4 of ``frame_pattern`` frames (a keyframe every ``gop``); ``options`` go to the muxer."""
    import av

    with av.open(str(path), "w", options=options) as container:
        stream = container.add_stream("h264", rate=24)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if gop:
            stream.codec_context.gop_size = gop
        for i in range(num_frames):
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame_pattern(i, height, width), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_audio_only(path: Path) -> Path:
    """An mp4 with one AAC audio stream and no video."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        for i in range(8):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 16000, i * 1024
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


class CountingBackend:
    """Wraps a real backend and counts opens and reads."""

    def __init__(self, name: str = "pyav") -> None:
        self.inner = get_backend(name)
        self.name = self.inner.name
        self.opens = 0
        self.reads: list[list[int]] = []

    def open(self, path):
        self.opens += 1
        reader = self.inner.open(path)
        outer = self

        class Reader:
            num_frames, fps = reader.num_frames, reader.fps

            def read(self, indices):
                outer.reads.append(list(indices))
                return reader.read(indices)

            def close(self):
                reader.close()

        return Reader()


def test_second_source_on_same_file_does_not_decode_again(tmp_path):
    path = write_mp4(tmp_path / "v.mp4", num_frames=40)
    ref = VideoRef(str(path))
    backend = CountingBackend()
    first = FrameSource(backend)
    assert first.cache is shared_frame_cache()
    a = first.frames(ref, [0, 3], 16, max_pixels=16 * PATCH)
    assert backend.opens == 1 and backend.reads == [first.candidate_indices(ref, 16).tolist()]
    second = FrameSource(backend)  # e.g. another environment of the same GRPO group
    b = second.frames(ref, [0, 3, 15], 16, max_pixels=16 * PATCH)
    assert backend.opens == 1 and len(backend.reads) == 1
    assert a[0] is b[0]


def test_threads_on_one_video_decode_it_once(tmp_path):
    ref = VideoRef(str(write_mp4(tmp_path / "v.mp4", num_frames=30)))
    backend = CountingBackend()
    source = FrameSource(backend, cache=FrameCache(1 << 26))
    threads = [threading.Thread(target=source.frames, args=(ref, [k], 8, 16 * PATCH)) for k in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert backend.opens == 1 and len(backend.reads) == 1


def test_requested_strategy_on_file(tmp_path):
    ref = VideoRef(str(write_mp4(tmp_path / "v.mp4", num_frames=40)))
    backend = CountingBackend()
    source = FrameSource(backend, cache=FrameCache(1 << 26), strategy="requested")
    idx = source.candidate_indices(ref, 16)
    source.frames(ref, [2, 9], 16, max_pixels=16 * PATCH)
    source.frames(ref, [9, 10], 16, max_pixels=16 * PATCH)
    assert backend.reads == [[int(idx[2]), int(idx[9])], [int(idx[10])]]


def test_eviction_decodes_again(tmp_path):
    ref = VideoRef(str(write_mp4(tmp_path / "v.mp4", num_frames=20)))
    backend = CountingBackend()
    source = FrameSource(backend, cache_bytes=0)  # nothing fits: every call decodes
    source.frames(ref, [0], 4, max_pixels=16 * PATCH)
    source.frames(ref, [0], 4, max_pixels=16 * PATCH)
    assert len(backend.reads) == 2


@pytest.mark.parametrize("backend", BACKENDS)
def test_real_count_overrides_wrong_metadata(tmp_path, backend):
    path = write_mp4(tmp_path / "v.mp4", num_frames=21)
    ref = VideoRef(str(path), fps=30.0, num_frames=999)
    source = FrameSource(backend, cache=FrameCache(1 << 26))
    assert source.num_frames(ref) == 21
    assert source.candidate_indices(ref, 7).tolist() == [1, 4, 7, 10, 13, 16, 19]
    images = source.frames(ref, [0, 6], 7, max_pixels=16 * PATCH)
    assert [img.shape for img in images] == [(56, 56, 3)] * 2  # 48x64 -> sides rounded to multiples of 28
    assert [frame_number(img) for img in images] == [1, 19]


@pytest.mark.parametrize("backend", BACKENDS)
def test_seeking_on_short_gop_file_returns_the_right_frames(tmp_path, backend):
    ref = VideoRef(str(write_mp4(tmp_path / "gop.mp4", num_frames=60, gop=6)))
    source = FrameSource(backend, cache=FrameCache(1 << 26), strategy="requested")
    positions = [25, 2, 14, 29, 20]  # candidates of F = 30 over 60 frames: raw index 2 p + 1
    images = source.frames(ref, positions, 30, max_pixels=16 * PATCH)
    assert [frame_number(img) for img in images] == [2 * p + 1 for p in positions]


@pytest.fixture(scope="module")
def broken(tmp_path_factory) -> dict[str, Path]:
    """One file per failure: missing, empty, truncated (two ways), text, random bytes, audio only."""
    d = tmp_path_factory.mktemp("broken")
    ok = write_mp4(d / "ok.mp4")
    fast = write_mp4(d / "fast.mp4", movflags="faststart")  # index first, so a cut keeps it
    files = {"missing": d / "missing.mp4", "empty": d / "empty.mp4", "text": d / "notes.mp4"}
    files["empty"].write_bytes(b"")
    files["text"].write_text("this is a text file, renamed .mp4\n" * 50)
    files["truncated"] = d / "truncated.mp4"
    files["truncated"].write_bytes(ok.read_bytes()[: ok.stat().st_size // 2])
    files["truncated_data"] = d / "truncated_data.mp4"
    files["truncated_data"].write_bytes(fast.read_bytes()[: fast.stat().st_size * 2 // 3])
    files["garbage"] = d / "garbage.mp4"
    files["garbage"].write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    files["audio_only"] = write_audio_only(d / "audio_only.mp4")
    files["directory"] = d / "folder.mp4"
    files["directory"].mkdir()
    shutil.copy(ok, d / "copy.mp4")
    return files


EXPECTED = {
    "missing": "not found",
    "empty": "empty",
    "text": "not a video",
    "truncated": "truncated",
    "truncated_data": "truncated",
    "garbage": "not a readable video",
    "audio_only": "no .*video stream",
    "directory": "not a regular file",
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_error_cases_name_the_file(broken, backend, case):
    path = broken[case]
    source = FrameSource(backend, cache=FrameCache(1 << 26))
    with pytest.raises(VideoError, match=EXPECTED[case]) as info:
        source.num_frames(VideoRef(str(path)))
        source.frames(VideoRef(str(path)), [0, 4, 7], 8, max_pixels=16 * PATCH)  # truncated data may fail here
    assert str(path) in str(info.value) and info.value.path == str(path)
    assert isinstance(info.value, ValueError)
    assert info.value.__cause__ is None  # no backend traceback chained
    assert info.value.__context__ is None or info.value.__suppress_context__


@pytest.mark.parametrize("backend", BACKENDS)
def test_position_out_of_range(broken, backend):
    ref = VideoRef(str(broken["missing"].parent / "copy.mp4"))
    source = FrameSource(backend, cache=FrameCache(1 << 26))
    for bad in (8, -1):
        with pytest.raises(VideoError, match=r"copy\.mp4.*out of range"):
            source.frames(ref, [0, bad], 8, max_pixels=16 * PATCH)


@pytest.mark.parametrize("backend", BACKENDS)
def test_file_shorter_than_f(tmp_path, backend):
    ref = VideoRef(str(write_mp4(tmp_path / "short.mp4", num_frames=5)))
    source = FrameSource(backend, cache=FrameCache(1 << 26))
    assert source.candidate_indices(ref, 8).tolist() == [0, 0, 1, 2, 2, 3, 4, 4]
    images = source.frames(ref, list(range(8)), 8, max_pixels=16 * PATCH)
    assert [frame_number(img) for img in images] == [0, 0, 1, 2, 2, 3, 4, 4]


def test_auto_backend_falls_back(monkeypatch):
    import sys

    from vr_env.video import AUTO_BACKEND_ORDER

    first, second = AUTO_BACKEND_ORDER
    modules = {"pyav": "av", "decord": "decord"}
    if backend_available(first):
        assert get_backend("auto").name == first
    if backend_available(second):
        monkeypatch.setitem(sys.modules, modules[first], None)  # makes `import` of it fail
        assert get_backend("auto").name == second
        with pytest.raises(ImportError, match=modules[first]):
            get_backend(first)
    monkeypatch.setitem(sys.modules, modules[first], None)
    monkeypatch.setitem(sys.modules, modules[second], None)
    with pytest.raises(ImportError, match="no video backend"):
        get_backend("auto")
