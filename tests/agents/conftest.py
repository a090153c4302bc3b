"""Fixtures for the VLM agent tests: tiny offline models built once per session, scripted turns."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

#: Small episodes: 16 candidate frames per video, at most 2 tool calls (3 model turns).
ENV_KWARGS: dict[str, Any] = {"frames_per_video": 16, "max_tool_calls": 2}


def tool_turn(frames: list[int], answer: str = "TA=1, VQ=1, MQ=0, OA=1, CF=2") -> str:
    return (
        "<Snapshot>sharp</Snapshot><Think>look</Think>"
        f"<Recommend Answer>{answer}</Recommend Answer>"
        '<tool_call>{"name": "select_frames", "arguments": {"target_frames": ' + str(frames) + "}}</tool_call>"
    )


def final_turn(answer: str = "TA=1, VQ=1, MQ=0, OA=1") -> str:
    return f"<Snapshot>smooth</Snapshot><Think>done</Think><Answer>{answer}</Answer>"


@pytest.fixture(scope="session")
def turns() -> SimpleNamespace:
    """Protocol turn builders and the small env settings: ``turns.tool(frames)``, ``turns.final()``."""
    return SimpleNamespace(tool=tool_turn, final=final_turn, env_kwargs=dict(ENV_KWARGS))


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Qwen2.5-VL checkpoint (built once per test session)."""
    from agents.tiny import build_tiny_model

    return build_tiny_model("qwen2_5_vl", tmp_path_factory.mktemp("tiny-qwen2_5_vl"), seed=0)


@pytest.fixture(scope="session")
def tiny_qwen3_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Qwen3-VL checkpoint (built once per test session)."""
    from agents.tiny import build_tiny_model

    return build_tiny_model("qwen3_vl", tmp_path_factory.mktemp("tiny-qwen3_vl"), seed=0)


@pytest.fixture(scope="session")
def tiny_backend(tiny_model_dir: Path) -> Any:
    from agents.backends.transformers_backend import TransformersBackend

    return TransformersBackend.from_pretrained(tiny_model_dir, device="cpu")


@pytest.fixture(scope="session")
def tiny_qwen3_backend(tiny_qwen3_dir: Path) -> Any:
    from agents.backends.transformers_backend import TransformersBackend

    return TransformersBackend.from_pretrained(tiny_qwen3_dir, device="cpu")


@pytest.fixture
def make_env() -> Iterator[Callable[..., Any]]:
    """``make_env(**overrides)``: a small ``VRJudge-v0`` on the default synthetic dataset."""
    import gymnasium as gym

    made: list[Any] = []

    def make(**overrides: Any) -> Any:
        env = gym.make("vr_env:VRJudge-v0", **{**ENV_KWARGS, **overrides})
        made.append(env)
        return env

    yield make
    for env in made:
        env.close()
