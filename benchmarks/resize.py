"""Which resize gives the pixels Qwen2.5-VL's own image processor gives, and which is fastest.

Reference: transformers' default ``Qwen2VLImageProcessor`` for ``qwen2_5_vl`` (the torchvision
backend, what ``AutoImageProcessor`` returns by default in transformers 5), called on the full RGB
frame with the env's pixel budget; its resized uint8 image is captured just before it rescales and
normalizes. Candidates start from what the frame cache holds (YUV 4:2:0 planes from PyAV, or the
full RGB frame) and produce the frame the env shows:

- ``pil``: planes -> full RGB (libswscale) -> PIL bicubic (what the env did before this benchmark);
- ``pil-gap1.5`` / ``pil-gap3``: the same with PIL's ``reducing_gap`` (a box reduction first, when
  the frame shrinks by more than the gap);
- ``torchvision``: planes -> full RGB -> ``torchvision.transforms.v2.functional.resize`` (bicubic,
  antialias, uint8), the processor's own call (``vr_env.video.resize.resize_frame``'s default);
- ``swscale``: planes -> RGB at the target size in one libswscale call (bicubic).

Frames: 4 candidates of each real clip (``shared/data/videogen-reward-example``), both budgets
(512 and 400 x 28 x 28). One thread everywhere (``torch.set_num_threads(1)``). Median ms per frame.

    python benchmarks/resize.py [--repeats 5] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CLIPS = REPO.parent / "shared/data/videogen-reward-example/videos"
BUDGETS = {"initial": 512 * 28 * 28, "retrieved": 400 * 28 * 28}
MIN_PIXELS = 4 * 28 * 28


def load_frames(per_clip: int = 4) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """``(name, planes, rgb)`` of ``per_clip`` uniformly spread frames of every real clip."""
    import av

    out = []
    for path in sorted(CLIPS.glob("*.mp4")):
        with av.open(str(path)) as container:
            frames = list(container.decode(video=0))
        for k in range(per_clip):
            frame = frames[(2 * k + 1) * len(frames) // (2 * per_clip)]
            out.append((f"{path.stem}#{k}", frame.to_ndarray(format="yuv420p"), frame.to_ndarray(format="rgb24")))
    return out


def processor_resize(rgb: np.ndarray, max_pixels: int) -> np.ndarray:
    """The uint8 image Qwen2.5-VL's default (fast, torchvision) image processor resizes ``rgb`` to."""
    from transformers.models.qwen2_vl.image_processing_qwen2_vl import Qwen2VLImageProcessor

    processor = Qwen2VLImageProcessor(size={"shortest_edge": MIN_PIXELS, "longest_edge": max_pixels})
    captured: list[Any] = []
    original = processor.rescale_and_normalize

    def capture(images: Any, *args: Any, **kwargs: Any) -> Any:
        captured.append(images.clone())
        return original(images, *args, **kwargs)

    processor.rescale_and_normalize = capture  # type: ignore[method-assign]
    processor(images=[rgb], return_tensors="pt")
    return captured[0][0].permute(1, 2, 0).numpy()


def candidates() -> dict[str, Callable[[np.ndarray, tuple[int, int]], np.ndarray]]:
    """Each method as ``run(planes, size) -> shown RGB frame``; the env's own functions where it has them."""
    from PIL import Image

    from vr_env.video.planar import planes_to_rgb

    def full_rgb(planes: np.ndarray) -> np.ndarray:
        return planes_to_rgb(planes, (planes.shape[0] * 2 // 3, planes.shape[1]), scaler="pil")

    def pil_gap(gap: float) -> Callable[[np.ndarray, tuple[int, int]], np.ndarray]:
        def run(planes: np.ndarray, size: tuple[int, int]) -> np.ndarray:
            image = Image.fromarray(full_rgb(planes))
            return np.asarray(image.resize((size[1], size[0]), Image.Resampling.BICUBIC, reducing_gap=gap))

        return run

    def scaler(name: str) -> Callable[[np.ndarray, tuple[int, int]], np.ndarray]:
        return lambda planes, size: planes_to_rgb(planes, size, scaler=name)

    return {
        "pil": scaler("pil"),
        "pil-gap1.5": pil_gap(1.5),
        "pil-gap3": pil_gap(3.0),
        "torchvision": scaler("torchvision"),
        "swscale": scaler("swscale"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results")
    args = parser.parse_args()
    import torch
    import transformers

    from vr_env.video.resize import smart_resize

    torch.set_num_threads(1)
    frames = load_frames()
    methods = candidates()
    stats: dict[str, dict[str, Any]] = {
        name: {"max_diff": 0, "differing": 0, "pixels": 0, "ms": []} for name in methods
    }
    for _name, planes, rgb in frames:
        for max_pixels in BUDGETS.values():
            reference = processor_resize(rgb, max_pixels)
            size = smart_resize(rgb.shape[0], rgb.shape[1], 28, MIN_PIXELS, max_pixels)
            assert reference.shape[:2] == size, (reference.shape, size)
            for method, run in methods.items():
                out = run(planes, size)
                diff = np.abs(out.astype(np.int16) - reference.astype(np.int16))
                s = stats[method]
                s["max_diff"] = max(s["max_diff"], int(diff.max()))
                s["differing"] += int((diff > 0).sum())
                s["pixels"] += int(diff.size)
    load_start = os.getloadavg()
    for _ in range(args.repeats):  # timing: methods interleaved per frame, so load hits all alike
        for _name, planes, rgb in frames:
            for max_pixels in BUDGETS.values():
                size = smart_resize(rgb.shape[0], rgb.shape[1], 28, MIN_PIXELS, max_pixels)
                for method, run in methods.items():
                    start = time.perf_counter()
                    run(planes, size)
                    stats[method]["ms"].append(1e3 * (time.perf_counter() - start))
    load_end = os.getloadavg()
    rows = []
    for method, s in stats.items():
        rows.append(
            {
                "method": method,
                "max_grey_diff": s["max_diff"],
                "differing_values_pct": round(100 * s["differing"] / s["pixels"], 3),
                "ms_per_frame": round(statistics.median(s["ms"]), 2),
                "matches": s["max_diff"] <= 1,
            }
        )
        print(json.dumps(rows[-1]))
    fastest = min((r for r in rows if r["matches"]), key=lambda r: r["ms_per_frame"])
    machine = (
        f"{platform.machine()}, {os.cpu_count()} CPU cores shared with other jobs "
        f"(1-min load average {load_start[0]:.1f} before timing, {load_end[0]:.1f} after), no GPU"
    )
    import av
    import PIL
    import torchvision

    versions = {
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "PIL": PIL.__version__,
        "av": av.__version__,
    }
    result = {
        "command": f"python benchmarks/resize.py --repeats {args.repeats}",
        "machine": machine,
        "versions": versions,
        "frames": len(frames),
        "rows": rows,
        "fastest_matching": fastest["method"],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "resize.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "# Resize: exactness against Qwen2.5-VL's image processor, and speed",
        "",
        f"Command: `{result['command']}`  ",
        f"Machine: {machine}.  ",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()) + ".",
        "",
        f"{len(frames)} frames (4 of each real clip, 672x384 to 1360x752) x 2 budgets (512 and 400 x 28 x 28).",
        "Reference: `Qwen2VLImageProcessor` (transformers' default for `qwen2_5_vl`: the torchvision",
        "backend, `tvF.resize(uint8, BICUBIC, antialias=True)`) on the full RGB frame. Each method starts",
        "from the cached YUV 4:2:0 planes and ends with the RGB frame shown; one thread; median ms per frame.",
        "",
        "| method | max grey-level diff | values differing | ms per frame | within 1 grey level |",
        "|---|---:|---:|---:|---|",
        *[
            f"| {r['method']} | {r['max_grey_diff']} | {r['differing_values_pct']} % | {r['ms_per_frame']} | "
            f"{'yes' if r['matches'] else 'no'} |"
            for r in rows
        ],
        "",
        f"Fastest method within one grey level: **{fastest['method']}**.",
        "",
    ]
    (args.out / "resize.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
