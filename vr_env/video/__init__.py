"""Frame-source layer: uniform candidate sampling, on-demand decoding, Qwen-VL resize, shared cache,
decoding ahead.

See docs/video.md. Decoding libraries (decord, PyAV) are imported only when a video is opened.
"""

from vr_env.video.backends import AUTO_BACKEND_ORDER, Backend, VideoReader, backend_available, get_backend
from vr_env.video.cache import FrameCache, shared_frame_cache
from vr_env.video.errors import VideoError
from vr_env.video.prefetch import PrefetchConfig
from vr_env.video.ref import SyntheticClip, VideoRef
from vr_env.video.resize import FACTOR, MAX_PIXELS, MIN_PIXELS, resize_frame, resize_method, smart_resize
from vr_env.video.sampling import check_positions, uniform_indices
from vr_env.video.source import DEFAULT_STRATEGY, STRATEGIES, FrameSource

__all__ = [
    "AUTO_BACKEND_ORDER",
    "DEFAULT_STRATEGY",
    "FACTOR",
    "MAX_PIXELS",
    "MIN_PIXELS",
    "STRATEGIES",
    "Backend",
    "FrameCache",
    "FrameSource",
    "PrefetchConfig",
    "SyntheticClip",
    "VideoError",
    "VideoReader",
    "VideoRef",
    "backend_available",
    "check_positions",
    "get_backend",
    "resize_frame",
    "resize_method",
    "shared_frame_cache",
    "smart_resize",
    "uniform_indices",
]
