"""vr-env: VR-Thinker video-pair judging as a Gymnasium environment, with agents and trainers."""

import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
# One owner for the version: vr_env/__init__.py.
VERSION = re.search(r'^__version__ = "([^"]+)"', (HERE / "vr_env" / "__init__.py").read_text(), re.M).group(1)

CORE = [
    "gymnasium==1.4.0",
    "numpy>=2.0,<3",
    "pillow>=10",
    "av==18.1.0",  # PyAV backend and mp4 export (av 19 needs Python 3.12)
    "pyarrow>=15",  # GenAI-Bench's published parquet layout (vr_env/data/genai_bench.py)
    "decord2>=3.4,<4",  # maintained fork of decord, same `import decord`
    "matplotlib>=3.8",
    "tqdm>=4.66",
    "tomli>=1.1; python_version < '3.11'",  # protocol template files (tomllib from 3.11)
]
TRAIN = [
    # torch and torchvision first-class pins: an unpinned install pulls a multi-GB CUDA build.
    "torch==2.14.1",
    "torchvision==0.29.1",
    # PyTorch's video decoder, an optional backend (docs/video.md: it needs FFmpeg's shared libraries).
    "torchcodec==0.17.0",
    "transformers==5.24.*",
    # The trainers (SFT, rejection sampling, GRPO; agents/train/) are built on these; nothing in the
    # environment layer imports them. The windowed GRPO trainer relies on TRL 1.16 internals.
    "trl==1.16.0",
    "accelerate==1.15.*",
    "peft==0.21.*",
    "datasets==5.2.*",
    "tokenizers>=0.22",
    "stable-baselines3==2.9.2",
    "sb3-contrib==2.9.*",
    "requests>=2.31",
]
SERVE = ["fastapi==0.165.0", "uvicorn==0.55.0"]  # vr-env serve (docs/judge-service.md)
DEV = ["pytest>=8", "pytest-xdist>=3.5", "hypothesis>=6.100", "ruff>=0.8", "mypy>=1.10"]
# The documentation site (mkdocs.yml), built strictly by the test suite (tests/test_docs.py).
DOCS = ["mkdocs==1.6.1", "mkdocs-material==9.8.1", "mkdocstrings==1.0.8", "mkdocstrings-python==2.0.11"]

setup(
    name="vr-env",
    version=VERSION,
    description="VR-Thinker video reward judging as a Gymnasium environment, with VLM agents and trainers.",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.10",
    packages=find_packages(include=["vr_env", "vr_env.*", "agents", "agents.*"]),
    # The miniature base (a 2.5 MB tiny Qwen2.5-VL checkpoint, rebuilt by `vr-env pretrain-base`).
    package_data={"agents.pretrain": ["mini_base/*"]},
    install_requires=CORE,
    extras_require={
        "train": TRAIN,
        # vLLM pins an older transformers/torch: install it in its own environment (docs/vlm.md).
        "vllm": ["vllm>=0.22,<0.32"],
        "serve": SERVE,
        "dev": DEV,
        "docs": DOCS,
        "all": TRAIN + SERVE + DEV + DOCS,
    },
    entry_points={
        "console_scripts": ["vr-env=vr_env.cli:main"],
        # The agent registry's group (vr_env/agent_registry.py); other packages add agents the same way.
        "vr_env.agents": [
            "random = agents.baselines:RandomAgent",
            "answer-now = agents.baselines:AnswerNowAgent",
            "scanner = agents.baselines:ScannerAgent",
            "human = agents.human:HumanAgent",
            "hf = agents.hf:hf_agent",
        ],
    },
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
        "Framework :: Gymnasium",
    ],
)
