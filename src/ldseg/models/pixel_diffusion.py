"""MedSegDiff-style diffusion in pixel space: every sampling step is a full-resolution pass."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from monai.networks.nets import DiffusionModelUNet

from ldseg.diffusion import DDIM, NoiseSchedule, Sampler, make_sampler, reverse_process
from ldseg.diffusion.schedule import Generators
from ldseg.models.base import ZERO, Segmenter, TrainingLoss, check_divisible


class PixelDiffusion(Segmenter):
    """MedSegDiff-style conditional diffusion in pixel space (Wu et al. 2023, simplified).

    MONAI's DiffusionModelUNet predicts the noise added to the one-hot mask (scaled to
    [-1, 1]) from its concatenation with the image; sampling runs the same DDIM/DDPM samplers
    as LDSeg, but every step is a full-resolution UNet pass.
    """

    ema_target = "unet"
    exportable = False  # ldseg export covers LDSeg and the deterministic baselines only

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

    def check_size(self, spatial_shape: Sequence[int]) -> None:
        check_divisible(spatial_shape, self.multiple)

    def make_sampler(self, name: str | None = None, steps: int = 2) -> Sampler:
        """A DDIM (default) or DDPM sampler over K = ``steps`` timesteps."""
        sampler = make_sampler(name or DDIM, self.schedule)
        sampler.set_timesteps(steps)
        return sampler

    def noise_shape(self, spatial_shape: Sequence[int]) -> tuple[int, ...]:
        """A noisy one-hot mask: ``(num_classes, *spatial_shape)``."""
        return (self.num_classes, *spatial_shape)

    def decode(self, states: Sequence[torch.Tensor], image: torch.Tensor) -> list[torch.Tensor]:
        """Probabilities from one-hot estimates in [-1, 1]: clamped, shifted, normalised."""
        probs = [((state.clamp(-1, 1) + 1) / 2) + 1e-6 for state in states]
        return [p / p.sum(1, keepdim=True) for p in probs]

    def forward(
        self, image: torch.Tensor, mask: torch.Tensor, generator: Generators = None
    ) -> TrainingLoss:
        self.check_size(image.shape[2:])
        y0 = F.one_hot(mask[:, 0].long(), self.num_classes).movedim(-1, 1).float() * 2 - 1
        y0 = y0.contiguous()
        t, noise = self.schedule.training_noise(y0, generator)
        eps_hat = self.unet(torch.cat([self.schedule.add_noise(y0, noise, t), image], 1), t)
        mse = F.mse_loss(eps_hat, noise)
        return TrainingLoss(mse, ZERO, ZERO, mse)

    @torch.no_grad()
    def sample(
        self,
        image: torch.Tensor,
        sampler: Sampler,
        generator: torch.Generator | None = None,
        noise: torch.Tensor | None = None,
        trajectory: list[torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Denoise a one-hot mask from noise; probabilities from the final estimate."""
        self.check_size(image.shape[2:])
        shape = (image.shape[0], *self.noise_shape(image.shape[2:]))
        y = (
            noise
            if noise is not None
            else torch.randn(shape, generator=generator, device=image.device)
        )
        y = reverse_process(
            lambda y_t, t: self.unet(torch.cat([y_t, image], 1), t),
            y,
            sampler,
            generator,
            trajectory=trajectory,
        )
        return self.decode([y], image)[0]
