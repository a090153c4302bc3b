""":class:`SlotCNN`, a features extractor for the SB3 wrapper's stacked-slot observations."""

from __future__ import annotations

from collections.abc import Sequence

import torch as th
from gymnasium import spaces
from stable_baselines3.common.preprocessing import get_flattened_obs_dim, is_image_space_channels_first
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn


class SlotCNN(BaseFeaturesExtractor):
    """Features extractor for the wrapper's ``Dict``: one small CNN shared by every frame slot.

    Each 3-channel slot of ``frames`` goes through ``3x3`` convolutions with ReLU (stride ``stride``),
    global average and max pooling, and a linear layer with ReLU; slot features are zeroed where
    ``frame_mask`` is 0 and concatenated in slot order with the other keys (flattened, as SB3
    preprocesses them). Pooled small-kernel responses measure texture statistics (noise, blur,
    blocking) directly; SB3's default ``NatureCNN`` (8x8 stride-4 kernels over all slots at once)
    did not learn the noise toy within our budget (docs/sb3.md). Use it with
    ``PPO("MultiInputPolicy", env, policy_kwargs={"features_extractor_class": SlotCNN})``.

    :param observation_space: the observation space (channels-last, or transposed by SB3).
    :param slot_features: features per slot.
    :param channels: output channels of each convolution.
    :param stride: stride of each convolution.
    """

    def __init__(
        self,
        observation_space: spaces.Dict,
        slot_features: int = 16,
        channels: Sequence[int] = (16,),
        stride: int = 2,
    ) -> None:
        frames = observation_space["frames"]
        assert isinstance(frames, spaces.Box) and len(frames.shape) == 3
        channels_first = is_image_space_channels_first(frames)
        slots = (frames.shape[0] if channels_first else frames.shape[-1]) // 3
        others = [key for key in observation_space.spaces if key != "frames"]
        extra = sum(get_flattened_obs_dim(observation_space[key]) for key in others)
        super().__init__(observation_space, features_dim=slots * slot_features + extra)
        self.channels_first = channels_first
        self.slots = slots
        self.others = others
        layers: list[nn.Module] = []
        previous = 3
        for out in channels:
            layers += [nn.Conv2d(previous, out, kernel_size=3, stride=stride), nn.ReLU()]
            previous = out
        self.convs = nn.Sequential(*layers)
        self.linear = nn.Sequential(nn.Linear(2 * previous, slot_features), nn.ReLU())

    def forward(self, observations: dict[str, th.Tensor]) -> th.Tensor:
        frames = observations["frames"]
        if not self.channels_first:
            frames = frames.permute(0, 3, 1, 2)
        batch, _, h, w = frames.shape
        maps = self.convs(frames.reshape(batch * self.slots, 3, h, w))
        pooled = th.cat([maps.mean(dim=(2, 3)), maps.amax(dim=(2, 3))], dim=1)
        features = self.linear(pooled).reshape(batch, self.slots, -1)
        if "frame_mask" in observations:
            features = features * observations["frame_mask"].reshape(batch, self.slots, 1)
        rest = [observations[key].reshape(batch, -1).float() for key in self.others]
        return th.cat([features.reshape(batch, -1), *rest], dim=1)
