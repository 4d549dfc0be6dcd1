"""LDSeg: the four networks trained end to end; ``forward`` returns the loss, ``sample`` segments.

Zaman et al., "Latent Diffusion for Medical Image Segmentation: End to end learning for fast
sampling and accuracy", arXiv 2407.12952 (Algorithms 1 and 2).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from monai.losses import DiceLoss
from torch import nn

from ldseg.diffusion import NoiseSchedule
from ldseg.diffusion.schedule import Generators
from ldseg.nets import ImageEncoder, LabelDecoder, LabelEncoder, LatentDenoiser
from ldseg.nets.blocks import stage_strides, standardize

DECODER_INPUTS = ("z_minus_eps", "x0")


def check_divisible(spatial_shape: Sequence[int], factor: Sequence[int]) -> None:
    """Raise if ``spatial_shape`` does not divide by ``factor`` on every axis."""
    if len(spatial_shape) != len(factor) or any(
        s % f for s, f in zip(spatial_shape, factor, strict=True)
    ):
        raise ValueError(
            f"input size {tuple(spatial_shape)} must divide by {tuple(factor)} on every axis"
        )


class LDSegLoss(NamedTuple):
    """Total loss of Algorithm 1 and its three terms (each already a scalar)."""

    total: torch.Tensor
    ce: torch.Tensor
    dice: torch.Tensor  # 1 - soft Dice
    noise_mse: torch.Tensor


class LDSeg(nn.Module):
    """Latent diffusion segmentation model (label/image encoders, latent denoiser, label decoder).

    Args:
        spatial_dims: 2 or 3.
        in_channels: image channels.
        num_classes: classes including background (2 or more).
        channels: encoder widths at full resolution and after each downsampling stage; the
            number of stages is ``len(channels) - 1`` (reference: 16 x (1, 2, 4, 4, 2)).
        latent_factor: downsampling factor per axis, a power of 2 up to ``2**stages``
            (default ``2**stages`` on every axis, 16 for four stages).
        denoiser_channels, denoiser_attention, num_res_blocks: the latent UNet's levels.
        num_heads: attention heads in the image encoder and denoiser.
        dropout: dropout in the encoder and decoder residual blocks.
        schedule: the forward noise schedule.
        gamma: weight of ``1 - Dice`` in the loss; ``lam``: weight of the noise MSE.
        decoder_input: what the decoder sees in training: ``"z_minus_eps"`` is the paper's
            ``z_lt - eps_hat``; ``"x0"`` is the clean-latent estimate
            ``(z_lt - sqrt(1 - abar_t) eps_hat) / sqrt(abar_t)``, standardised like ``z_l0``
            (unstandardised it explodes near t = T, where sqrt(abar_t) is about 1e-4), a
            variant to compare.
        restandardize: the default of ``sample``'s ``restandardize``.
    """

    ema_target = "denoiser"  # the submodule whose EMA copy is saved and sampled

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        num_classes: int,
        channels: Sequence[int] = (16, 32, 64, 64, 32),
        latent_factor: Sequence[int] | None = None,
        denoiser_channels: Sequence[int] = (16, 32, 64),
        denoiser_attention: Sequence[bool] = (False, True, True),
        num_res_blocks: int = 2,
        num_heads: int = 4,
        dropout: float = 0.2,
        schedule: NoiseSchedule | None = None,
        gamma: float = 2.0,
        lam: float = 1.0,
        decoder_input: str = "z_minus_eps",
        restandardize: bool = True,
    ) -> None:
        super().__init__()
        if spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}")
        if num_classes < 2:
            raise ValueError(
                f"num_classes must be at least 2 (background + one), got {num_classes}"
            )
        if decoder_input not in DECODER_INPUTS:
            raise ValueError(
                f"decoder_input must be one of {DECODER_INPUTS}, got {decoder_input!r}"
            )
        num_stages = len(channels) - 1
        factor = tuple(latent_factor) if latent_factor else (2**num_stages,) * spatial_dims
        if len(factor) != spatial_dims:
            raise ValueError(f"latent_factor {factor} needs {spatial_dims} entries")
        strides = stage_strides(factor, num_stages)
        self.spatial_dims = spatial_dims
        self.num_classes = num_classes
        self.latent_factor = factor
        self.gamma, self.lam = gamma, lam
        self.decoder_input = decoder_input
        self.restandardize = restandardize
        self.schedule = schedule or NoiseSchedule()
        self.label_encoder = LabelEncoder(spatial_dims, num_classes, channels, strides, dropout)
        self.image_encoder = ImageEncoder(
            spatial_dims, in_channels, channels, strides, num_heads, dropout
        )
        self.denoiser = LatentDenoiser(
            spatial_dims, denoiser_channels, denoiser_attention, num_res_blocks, num_heads
        )
        self.label_decoder = LabelDecoder(spatial_dims, num_classes, channels, strides, dropout)
        self.dice_loss = DiceLoss(to_onehot_y=True, softmax=True)

    def check_size(self, spatial_shape: Sequence[int]) -> None:
        """Raise if a spatial shape does not divide by the latent factor on every axis."""
        check_divisible(spatial_shape, self.latent_factor)

    def forward(
        self, image: torch.Tensor, mask: torch.Tensor, generator: Generators = None
    ) -> LDSegLoss:
        """One training step of Algorithm 1: the end-to-end loss for a batch.

        Args:
            image: ``(B, in_channels, *S)``.
            mask: class indices ``(B, 1, *S)``.
        """
        self.check_size(image.shape[2:])
        z_i = self.image_encoder(image)
        z0 = self.label_encoder(mask)
        t, noise = self.schedule.training_noise(z0, generator)
        z_t = self.schedule.add_noise(z0, noise, t)
        eps_hat = self.denoiser(z_t, z_i, t)
        if self.decoder_input == "z_minus_eps":
            z_dn = z_t - eps_hat
        else:
            z_dn = standardize(self.schedule.predict_x0(z_t, eps_hat, t))
        logits = self.label_decoder(z_dn)
        ce = F.cross_entropy(logits, mask[:, 0].long())
        dice = self.dice_loss(logits, mask)
        noise_mse = F.mse_loss(eps_hat, noise)
        return LDSegLoss(ce + self.gamma * dice + self.lam * noise_mse, ce, dice, noise_mse)

    @torch.no_grad()
    def sample(
        self,
        image: torch.Tensor,
        sampler,
        generator: torch.Generator | None = None,
        noise: torch.Tensor | None = None,
        restandardize: bool | None = None,
        trajectory: list[torch.Tensor] | None = None,
        denoiser: nn.Module | None = None,
    ) -> torch.Tensor:
        """Algorithm 2: segment ``image`` and return class probabilities ``(B, C, *S)``.

        Args:
            image: ``(B, in_channels, *S)``.
            sampler: a DDIM or DDPM sampler with its timesteps set.
            generator: random source of the initial latent (and DDPM noise).
            noise: an explicit initial latent instead of drawing one.
            restandardize: give the latent mean 0 and std 1 after every step, as the reference
                does (default: the model's ``restandardize``).
            trajectory: if given, the latent after every step is appended to it.
            denoiser: a denoiser to use instead of ``self.denoiser`` (its EMA copy in training).
        """
        self.check_size(image.shape[2:])
        z_i = self.image_encoder(image)
        denoiser = denoiser or self.denoiser
        if restandardize is None:
            restandardize = self.restandardize
        z = noise
        if z is None:
            z = torch.randn(z_i.shape, generator=generator, device=z_i.device, dtype=z_i.dtype)
        for t in sampler.timesteps.tolist():
            t_batch = torch.full((z.shape[0],), t, device=z.device, dtype=torch.long)
            z = sampler.step(denoiser(z, z_i, t_batch), t, z, generator=generator)
            if restandardize:
                z = standardize(z)
            if trajectory is not None:
                trajectory.append(z.clone())
        return torch.softmax(self.label_decoder(z), dim=1)
