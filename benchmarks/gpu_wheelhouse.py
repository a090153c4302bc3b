"""The wheels the GPU check (``benchmarks/gpu_check.py``) carries to an accelerator machine without network.

The machine has Python 3.12, torch 2.11, transformers 5.17 and accelerate, but not TRL, Gymnasium or
vr-env. :func:`build` (``python benchmarks/gpu_check.py --build-wheelhouse DIR``, on a machine that
reaches the package index) resolves, for CPython 3.12 on manylinux x86_64, everything
``trl==1.16.0``, ``gymnasium==1.4.0`` and ``torchvision==0.26.*`` (Qwen2-VL's video processor; installed
only where the machine has none) need beyond what torch 2.11 + transformers 5.17 + accelerate
bring (pip's own resolver, ``--dry-run --report``; torch is a metadata-only stand-in, so its CUDA
wheels are never fetched), downloads exactly those wheels, builds the vr-env wheel from this checkout,
and packs them unzipped into one ``wheels.tar.xz`` (xz shrinks pyarrow's shared libraries far more than
a wheel's zip does: about 50 MB instead of 70, under a 64 MiB transfer cap), with ``requirements.txt``
(the pins) and ``manifest.json``. PyAV is left out unless ``--with-av`` (the check plays the synthetic
benchmark, whose clips are drawn in memory: nothing is decoded; ~25 MB more). DeepSpeed is carried only
with ``--with-deepspeed``: it ships as a source distribution, built here into a pure-python wheel with
no compiled op (``DS_BUILD_OPS=0``), about 3 MB with its dependencies; without it the ZeRO-3 step is
reported as skipped.

:func:`install` (the check's ``--wheelhouse DIR``) unpacks the archive, zips each wheel back and runs
``pip install --no-index --no-deps --target DIR-site`` over them: nothing is fetched, the machine's own
packages are left untouched, and the check puts ``DIR-site`` first on its path.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
ARCHIVE = "wheels.tar.xz"
REQUIREMENTS = "requirements.txt"
MANIFEST = "manifest.json"
#: What the accelerator machine already has (the stand-in torch brings no CUDA wheels into the resolution).
DEVICE_TORCH = "2.11.0"
DEVICE_PROVIDES: tuple[str, ...] = ("transformers==5.17.*", "accelerate")
#: What the check needs on top (vr-env's own wheel is added, without its dependencies). torchvision (the
#: release built for torch 2.11) serves Qwen2-VL's video processor; it is installed only where missing.
NEEDS: tuple[str, ...] = ("trl==1.16.0", "gymnasium==1.4.0", "pillow>=10", "torchvision==0.26.*")
#: Carried, but left out of the install where the machine has them (they are built for its torch).
IF_MISSING: tuple[str, ...] = ("torchvision",)
AV = "av==18.1.0"
#: The DeepSpeed release carried by ``--with-deepspeed`` (its wheel is built here from the source distribution).
DEEPSPEED = "deepspeed==0.19.8"
#: CPython 3.12 on manylinux x86_64.
TARGET: tuple[str, ...] = (
    "--only-binary=:all:", "--python-version", "3.12", "--implementation", "cp", "--abi", "cp312",
    "--platform", "manylinux_2_28_x86_64", "--platform", "manylinux_2_17_x86_64", "--platform", "manylinux2014_x86_64",
)  # fmt: skip
#: The device tool's transfer cap for carried files.
CARRY_LIMIT = 64 * 2**20


def stub_wheel(folder: Path, name: str, version: str, files: dict[str, str] | None = None) -> Path:
    """A minimal valid pure-python wheel (``files``: path -> text), e.g. a metadata-only stand-in."""
    dist = f"{name}-{version}.dist-info"
    contents = dict(files or {})
    contents[f"{dist}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    contents[f"{dist}/WHEEL"] = (
        "Wheel-Version: 1.0\nGenerator: gpu_wheelhouse\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    record = []
    path = folder / f"{name}-{version}-py3-none-any.whl"
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        for member, text in contents.items():
            data = text.encode()
            archive.writestr(member, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{member},sha256={digest},{len(data)}")
        record.append(f"{dist}/RECORD,,")
        archive.writestr(f"{dist}/RECORD", "\n".join(record) + "\n")
    return path


def _pip(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pip", *args]
    return subprocess.run(
        command, capture_output=True, text=True, check=False, env=None if env is None else {**os.environ, **env}
    )


def deepspeed_wheel(folder: Path) -> Path:
    """DeepSpeed's pure-python wheel, built from its source distribution without compiled ops (``DS_BUILD_OPS=0``:
    nothing is compiled here; ZeRO-3 with torch's own optimizer needs none)."""
    sdist = folder / "sdist"
    done = _pip("download", "--no-deps", "--no-binary", ":all:", "-d", str(sdist), DEEPSPEED)
    if done.returncode != 0:
        raise RuntimeError(f"pip could not download DeepSpeed's source:\n{done.stderr[-2000:]}")
    source = next(sdist.iterdir())
    done = _pip("wheel", "--no-deps", "--no-build-isolation", "-w", str(folder), str(source), env={"DS_BUILD_OPS": "0"})
    if done.returncode != 0:
        raise RuntimeError(f"could not build the DeepSpeed wheel:\n{done.stderr[-2000:]}")
    return next(folder.glob("deepspeed-*.whl"))


def resolve(requirements: Sequence[str], torch_stub: Path) -> dict[str, dict[str, str]]:
    """pip's resolution for the target platform: name -> {version, url}."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        done = _pip(
            "install", "--dry-run", "--ignore-installed", "--quiet", "--report", str(report), *TARGET,
            "--target", str(Path(tmp) / "nowhere"), f"torch @ {torch_stub.as_uri()}", *requirements,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"pip could not resolve {list(requirements)}:\n{done.stderr[-2000:]}")
        items = json.loads(report.read_text())["install"]
    return {
        item["metadata"]["name"].lower().replace("_", "-"): {
            "version": item["metadata"]["version"],
            "url": item["download_info"]["url"],
        }
        for item in items
    }


def pack(wheels: Sequence[Path], archive: Path) -> None:
    """Every wheel unzipped into one ``tar.xz`` (a folder per wheel, named like the wheel file)."""
    with tempfile.TemporaryDirectory() as tmp, tarfile.open(archive, "w:xz", preset=6) as tar:
        for wheel in wheels:
            folder = Path(tmp) / wheel.name
            with zipfile.ZipFile(wheel) as source:
                source.extractall(folder)
            tar.add(folder, arcname=wheel.name)


def unpack(archive: Path, dest: Path) -> list[Path]:
    """The wheels of :func:`pack`, zipped back into ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(archive, "r:xz") as tar:
            tar.extractall(tmp, filter="data")
        wheels = []
        for folder in sorted(Path(tmp).iterdir()):
            wheel = dest / folder.name
            with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as out:
                for file in sorted(p for p in folder.rglob("*") if p.is_file()):
                    out.write(file, file.relative_to(folder).as_posix())
            wheels.append(wheel)
    return wheels


def build(dest: Path, with_av: bool = False, with_deepspeed: bool = False) -> dict[str, Any]:
    """Resolve, download and pack the check's wheels into ``dest``; return the manifest."""
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        staging = Path(tmp) / "wheels"
        stub = stub_wheel(Path(tmp) / "stub", "torch", DEVICE_TORCH)
        base = resolve(DEVICE_PROVIDES, stub)
        options = [AV] if with_av else []
        if with_deepspeed:
            options.append(f"deepspeed @ {deepspeed_wheel(staging).as_uri()}")
        wanted = resolve([*DEVICE_PROVIDES, *NEEDS, *options], stub)
        extra = {name: spec for name, spec in sorted(wanted.items()) if name not in base}
        for name, spec in extra.items():
            if (staging / spec["url"].rsplit("/", 1)[-1]).exists():
                continue  # built here (DeepSpeed)
            done = _pip("download", "--no-deps", *TARGET, "-d", str(staging), spec["url"])
            if done.returncode != 0:
                raise RuntimeError(f"pip could not download {name}=={spec['version']}:\n{done.stderr[-2000:]}")
        done = _pip("wheel", "--no-deps", "--no-build-isolation", "-w", str(staging), str(REPO))
        if done.returncode != 0:
            raise RuntimeError(f"could not build the vr-env wheel:\n{done.stderr[-2000:]}")
        wheels = sorted(staging.glob("*.whl"))
        pack(wheels, dest / ARCHIVE)
        sizes = {w.name: w.stat().st_size for w in wheels}
    from vr_env import __version__

    pins = [f"{name}=={spec['version']}" for name, spec in extra.items()] + [f"vr-env=={__version__}"]
    (dest / REQUIREMENTS).write_text("\n".join(pins) + "\n", encoding="utf-8")
    manifest = {
        "target": "CPython 3.12, manylinux x86_64",
        "device_provides": [
            f"torch=={DEVICE_TORCH}",
            *DEVICE_PROVIDES,
            *(f"{n}=={s['version']}" for n, s in base.items()),
        ],
        "carried": pins,
        "wheels": sizes,
        "archive_bytes": (dest / ARCHIVE).stat().st_size,
        "carry_limit_bytes": CARRY_LIMIT,
    }
    (dest / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def install(wheelhouse: Path) -> tuple[Path, str]:
    """Install the packed wheels into ``WHEELHOUSE-site`` (beside it) offline (those of :data:`IF_MISSING` only where
    not importable); return that folder and pip's last line."""
    import importlib.util

    archive = wheelhouse / ARCHIVE
    if not archive.is_file():
        raise FileNotFoundError(f"{archive} not found: build it with gpu_check.py --build-wheelhouse {wheelhouse}")
    site = wheelhouse.parent / f"{wheelhouse.name}-site"  # beside it: the wheelhouse folder stays carriable
    with tempfile.TemporaryDirectory() as tmp:
        wheels = unpack(archive, Path(tmp))
        present = {name for name in IF_MISSING if importlib.util.find_spec(name) is not None}
        wheels = [w for w in wheels if w.name.split("-")[0].lower() not in present]
        done = _pip(
            "install", "--no-index", "--no-deps", "--no-compile", "--upgrade", "--target", str(site),
            *map(str, wheels),
        )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"pip could not install the wheelhouse:\n{done.stderr[-2000:]}")
    return site, (done.stdout.strip().splitlines() or [""])[-1]
