"""Environments for an evaluation: ``num_envs`` envs sharing one loaded dataset and frame source."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vr_env.config import EnvConfig
from vr_env.data.base import PairDataset, load_dataset


def build_envs(
    env_kwargs: Mapping[str, Any] | None, num_envs: int, frame_source: Any | None = None
) -> tuple[list[Any], PairDataset, str]:
    """``num_envs`` environments sharing one loaded dataset (and frame source), and the dataset name."""
    from vr_env.env import VRJudgeEnv

    if num_envs < 1:
        raise ValueError(f"num_envs must be >= 1, got {num_envs}")
    kwargs = dict(env_kwargs or {})
    base = kwargs.get("config") or EnvConfig()
    dataset = kwargs.pop("dataset", None)
    if not isinstance(dataset, PairDataset):
        name = dataset or base.dataset
        data_root = kwargs.get("data_root", base.data_root)
        dataset = load_dataset(name, data_root, **kwargs.get("dataset_kwargs", base.dataset_kwargs))
        kwargs["dataset_kwargs"] = kwargs.get("dataset_kwargs", base.dataset_kwargs)
        kwargs["data_root"] = data_root
        label = str(name)
    else:
        label = dataset.name
    if frame_source is None:
        from vr_env.video import FrameSource

        frame_source = FrameSource(backend=kwargs.get("video_backend", base.video_backend))
    envs = [VRJudgeEnv(dataset=dataset, frame_source=frame_source, **kwargs) for _ in range(num_envs)]
    return envs, dataset, label
