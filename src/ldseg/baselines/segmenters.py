"""Baseline segmenters with LDSeg's interface: ``forward`` returns the loss, ``sample`` segments."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from monai.losses import DiceLoss
from monai.networks.nets import DiffusionModelUNet
from torch import nn

from ldseg.diffusion import NoiseSchedule, Sampler, make_sampler, reverse_process
from ldseg.diffusion.schedule import Generators
from ldseg.model import ZERO, LDSegLoss, check_divisible


class DeterministicSegmenter(nn.Module):
    """A network trained with cross-entropy + Dice (MONAI's DiceCE terms); one pass segments."""

    ema_target = None

    def __init__(
        self, net: nn.Module, spatial_dims: int, num_classes: int, multiple: tuple[int, ...]
    ) -> None:
        super().__init__()
        self.net = net
        self.multiple = multiple
        self.spatial_dims = spatial_dims
        self.num_classes = num_classes
        self.dice_loss = DiceLoss(to_onehot_y=True, softmax=True)

    def check_size(self, spatial_shape) -> None:
        check_divisible(spatial_shape, self.multiple)

    def make_sampler(self, name: str | None = None, steps: int = 2) -> None:
        """None: one deterministic pass segments."""
        return None

    def forward(
        self, image: torch.Tensor, mask: torch.Tensor, generator: Generators = None
    ) -> LDSegLoss:
        self.check_size(image.shape[2:])
        logits = self.net(image)
        ce = F.cross_entropy(logits, mask[:, 0].long())
        dice = self.dice_loss(logits, mask)
        return LDSegLoss(ce + dice, ce, dice, ZERO)

    @torch.no_grad()
    def sample(self, image: torch.Tensor, sampler=None, generator=None) -> torch.Tensor:
        """Class probabilities; ``sampler`` and ``generator`` are unused (deterministic)."""
        self.check_size(image.shape[2:])
        return torch.softmax(self.net(image), dim=1)


class PixelDiffusion(nn.Module):
    """MedSegDiff-style conditional diffusion in pixel space (Wu et al. 2023, simplified).

    MONAI's DiffusionModelUNet predicts the noise added to the one-hot mask (scaled to
    [-1, 1]) from its concatenation with the image; sampling runs the same DDIM/DDPM samplers
    as LDSeg, but every step is a full-resolution UNet pass.
    """

    ema_target = "unet"

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        num_classes: int,
        channels: tuple[int, ...] = (32, 64, 64),
        schedule: NoiseSchedule | None = None,
    ) -> None:
        super().__init__()
        self.spatial_dims = spatial_dims
        self.num_classes = num_classes
        self.schedule = schedule or NoiseSchedule()
        self.unet = DiffusionModelUNet(
            spatial_dims=spatial_dims,
            in_channels=num_classes + in_channels,
            out_channels=num_classes,
            channels=tuple(channels),
            attention_levels=(False,) * (len(channels) - 1) + (True,),
            num_res_blocks=1,
            norm_num_groups=16,
            num_head_channels=channels[-1],
        )
        self.multiple = (2 ** (len(channels) - 1),) * spatial_dims

    def check_size(self, spatial_shape) -> None:
        check_divisible(spatial_shape, self.multiple)

    def make_sampler(self, name: str | None = None, steps: int = 2) -> Sampler:
        """A DDIM (default) or DDPM sampler over K = ``steps`` timesteps."""
        sampler = make_sampler(name or "ddim", self.schedule)
        sampler.set_timesteps(steps)
        return sampler

    def forward(
        self, image: torch.Tensor, mask: torch.Tensor, generator: Generators = None
    ) -> LDSegLoss:
        self.check_size(image.shape[2:])
        y0 = F.one_hot(mask[:, 0].long(), self.num_classes).movedim(-1, 1).float() * 2 - 1
        y0 = y0.contiguous()
        t, noise = self.schedule.training_noise(y0, generator)
        eps_hat = self.unet(torch.cat([self.schedule.add_noise(y0, noise, t), image], 1), t)
        mse = F.mse_loss(eps_hat, noise)
        return LDSegLoss(mse, ZERO, ZERO, mse)

    @torch.no_grad()
    def sample(
        self, image: torch.Tensor, sampler, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Denoise a one-hot mask from noise; probabilities from the final estimate."""
        self.check_size(image.shape[2:])
        shape = (image.shape[0], self.num_classes, *image.shape[2:])
        y = torch.randn(shape, generator=generator, device=image.device)
        y = reverse_process(
            lambda y_t, t: self.unet(torch.cat([y_t, image], 1), t), y, sampler, generator
        )
        probs = ((y.clamp(-1, 1) + 1) / 2) + 1e-6
        return probs / probs.sum(1, keepdim=True)
