"""Which sizes a model configuration takes, checked when a config is loaded or built: the size
must divide by the model's downsampling factor, and its latent must keep enough values for the
normalisation layers (a 1-voxel latent fails BatchNorm in training and the 1-channel GroupNorm
of the image encoder's output at any time)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ldseg.config import Config

PIXEL_DIFFUSION_LEVELS = 3  # PixelDiffusion's default UNet channels (32, 64, 64)
MIN_LATENT_VALUES = 2  # per sample and channel, for BatchNorm (batch 1) and GroupNorm


DETERMINISTIC = ("resunet", "unet")
LDSEG_LATENT_FACTOR = 8  # per axis, when the config sets none (the paper: 16)


def model_factor(config: Config) -> tuple[int, ...]:
    """The model's downsampling per axis: ``model.latent_factor``, or by default 8 (at most
    ``2**stages``) for LDSeg, measured better than the paper's 16 on CAMUS (benchmarks/README.md,
    "Ablation"), and ``2**stages`` for the deterministic baselines."""
    m, dims = config.model, config.spatial_dims
    if m.latent_factor:
        return tuple(m.latent_factor)
    stages = len(m.channels) - 1
    if m.name in DETERMINISTIC:
        return (2**stages,) * dims
    return (min(LDSEG_LATENT_FACTOR, 2**stages),) * dims


def downsampling(config: Config) -> tuple[tuple[int, ...], bool]:
    """The factor the size must divide by, and whether it is a latent that normalisation
    layers see at that size (LDSeg and its variants, the ResUNet and UNet baselines)."""
    m, dims = config.model, config.spatial_dims
    if m.name == "pixel-diffusion":
        return (2 ** (PIXEL_DIFFUSION_LEVELS - 1),) * dims, False
    return model_factor(config), True


def smallest_size(factor: tuple[int, ...]) -> list[int]:
    """The smallest size whose latent (``size / factor``) has ``MIN_LATENT_VALUES`` voxels."""
    size = list(factor)
    size[0] *= MIN_LATENT_VALUES
    return size


def size_problems(config: Config) -> list[str]:
    """What is wrong with the model's channel lists, latent factor and ``data.size``."""
    m, size = config.model, list(config.data.size)
    problems = []
    if len(m.channels) < 2 or min(m.channels) < 1:
        problems.append(f"model.channels {m.channels} needs 2 or more positive widths")
    if not m.denoiser_channels or min(m.denoiser_channels) < 1:
        problems.append(f"model.denoiser_channels {m.denoiser_channels}: positive widths")
    if len(m.denoiser_attention) != len(m.denoiser_channels):
        problems.append(
            f"model.denoiser_attention {m.denoiser_attention} needs one flag per entry of "
            f"model.denoiser_channels {m.denoiser_channels}"
        )
    if problems or len(size) not in (2, 3) or min(size) < 1:
        return problems
    factor, latent = downsampling(config)
    stages = len(m.channels) - 1
    if len(factor) != len(size):
        return problems  # reported by Config.validate (model.latent_factor must match)
    if m.latent_factor and any(f < 1 or f & (f - 1) or f > 2**stages for f in factor):
        problems.append(
            f"model.latent_factor {list(factor)}: each must be a power of 2 up to 2**{stages} "
            f"({stages} stages of model.channels)"
        )
        return problems
    if any(s % f for s, f in zip(size, factor, strict=True)):
        multiple = [math.ceil(s / f) * f for s, f in zip(size, factor, strict=True)]
        problems.append(
            f"data.size {size} must divide by the latent factor {list(factor)} on every axis "
            f"(e.g. {multiple}; set model.latent_factor for other sizes)"
        )
    elif latent and math.prod(s // f for s, f in zip(size, factor, strict=True)) < 2:
        problems.append(
            f"data.size {size} leaves a latent of 1 voxel (latent factor {list(factor)}), too "
            f"few values for normalisation; the smallest size that works is "
            f"{smallest_size(factor)} (or lower model.latent_factor)"
        )
    return problems
