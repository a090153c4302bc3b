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
    :param highpass: add a fourth input channel per slot, the absolute Laplacian of the grey image
        (a fixed filter: pixel-level texture such as noise without having to learn it), and append
        its spatial mean and standard deviation to the slot's features.
    """

    def __init__(
        self,
        observation_space: spaces.Dict,
        slot_features: int = 16,
        channels: Sequence[int] = (16,),
        stride: int = 2,
        highpass: bool = False,
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
        self.highpass = highpass
        self.laplacian: th.Tensor
        laplacian = th.tensor([[0.0, -1.0, 0.0], [-1.0, 4.0, -1.0], [0.0, -1.0, 0.0]]).reshape(1, 1, 3, 3)
        self.register_buffer("laplacian", laplacian, persistent=False)
        layers: list[nn.Module] = []
        previous = 4 if highpass else 3
        for out in channels:
            layers += [nn.Conv2d(previous, out, kernel_size=3, stride=stride), nn.ReLU()]
            previous = out
        self.convs = nn.Sequential(*layers)
        self.linear = nn.Sequential(nn.Linear(2 * previous, slot_features), nn.ReLU())
        self.slot_dim = slot_features + (2 if highpass else 0)
        self._features_dim += self.slots * (self.slot_dim - slot_features)

    def slot_features(self, frames: th.Tensor) -> th.Tensor:
        """``(batch, slots, slot_features)`` from channels-first stacked slots ``(batch, 3 * slots, h, w)``."""
        batch, _, h, w = frames.shape
        images = frames.reshape(batch * self.slots, 3, h, w)
        stats: list[th.Tensor] = []
        if self.highpass:
            grey = images.mean(dim=1, keepdim=True)
            texture = 4.0 * nn.functional.conv2d(grey, self.laplacian, padding=1).abs()
            images = th.cat([images, texture], dim=1)
            stats = [texture.mean(dim=(1, 2, 3)).unsqueeze(1), texture.std(dim=(1, 2, 3)).unsqueeze(1)]
        maps = self.convs(images)
        pooled = th.cat([maps.mean(dim=(2, 3)), maps.amax(dim=(2, 3))], dim=1)
        return th.cat([self.linear(pooled), *stats], dim=1).reshape(batch, self.slots, -1)

    def forward(self, observations: dict[str, th.Tensor]) -> th.Tensor:
        frames = observations["frames"]
        if not self.channels_first:
            frames = frames.permute(0, 3, 1, 2)
        features = self.slot_features(frames)
        batch = frames.shape[0]
        if "frame_mask" in observations:
            features = features * observations["frame_mask"].reshape(batch, self.slots, 1)
        rest = [observations[key].reshape(batch, -1).float() for key in self.others]
        return th.cat([features.reshape(batch, -1), *rest], dim=1)


class VideoPoolCNN(SlotCNN):
    """:class:`SlotCNN` whose slot features are pooled per video: a set encoder over the visible frames.

    Needs the wrapper's ``slot_video`` key (``make_sb3_env(slot_video=True)``). The shared per-slot
    CNN scores every visible frame; the masked mean and max of the slot features of video 1 and of
    video 2 (4 x ``slot_features`` numbers) replace the per-slot concatenation, followed by the other
    keys (``budget``, ``fetched``, ...). The features then say "what the frames of each video seen so
    far show", whichever slot a fetched frame landed in, so a fetch changes the features of the
    video it showed and the answer heads need not learn the slot layout.
    """

    def __init__(
        self,
        observation_space: spaces.Dict,
        slot_features: int = 16,
        channels: Sequence[int] = (16,),
        stride: int = 2,
        highpass: bool = True,
    ) -> None:
        if "slot_video" not in observation_space.spaces or "frame_mask" not in observation_space.spaces:
            raise ValueError("VideoPoolCNN needs the keys frame_mask and slot_video: make_sb3_env(slot_video=True)")
        super().__init__(observation_space, slot_features, channels, stride, highpass)
        others = [key for key in self.others if key not in ("frame_mask", "slot_video")]
        extra = sum(get_flattened_obs_dim(observation_space[key]) for key in others)
        self.others = others
        self._features_dim = 4 * self.slot_dim + extra

    def forward(self, observations: dict[str, th.Tensor]) -> th.Tensor:
        frames = observations["frames"]
        if not self.channels_first:
            frames = frames.permute(0, 3, 1, 2)
        features = self.slot_features(frames)
        batch = frames.shape[0]
        mask = observations["frame_mask"].reshape(batch, self.slots, 1).float()
        second = observations["slot_video"].reshape(batch, self.slots, 1).float() * mask
        parts = []
        for member in (mask - second, second):  # slots of video 1, slots of video 2
            count = member.sum(dim=1).clamp(min=1.0)
            parts += [(features * member).sum(dim=1) / count, (features * member).amax(dim=1)]
        rest = [observations[key].reshape(batch, -1).float() for key in self.others]
        return th.cat([*parts, *rest], dim=1)
