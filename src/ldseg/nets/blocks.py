"""Building blocks shared by the LDSeg networks, generic over ``spatial_dims`` 2 and 3."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "AttentionBlock",
    "ResidualBlock",
    "conv",
    "encoder_stages",
    "group_norm",
    "network_strides",
    "norm",
    "pools",
    "stage_strides",
    "standardize",
    "transposed_conv",
]


def conv(spatial_dims: int, in_ch: int, out_ch: int, kernel: int = 3, stride=1) -> nn.Module:
    """Convolution with 'same' padding for odd kernels; ``stride`` may differ per axis."""
    cls = nn.Conv2d if spatial_dims == 2 else nn.Conv3d
    return cls(in_ch, out_ch, kernel, stride=stride, padding=kernel // 2)


def transposed_conv(spatial_dims: int, in_ch: int, out_ch: int, stride: Sequence[int]) -> nn.Module:
    """Transposed convolution that upsamples by exactly ``stride`` per axis."""
    cls = nn.ConvTranspose2d if spatial_dims == 2 else nn.ConvTranspose3d
    return cls(in_ch, out_ch, kernel_size=tuple(stride), stride=tuple(stride))


def norm(spatial_dims: int, channels: int) -> nn.Module:
    """Batch normalisation for the encoders and decoder (as in the reference ResUNet blocks)."""
    return nn.BatchNorm2d(channels) if spatial_dims == 2 else nn.BatchNorm3d(channels)


def group_norm(channels: int) -> nn.GroupNorm:
    """GroupNorm with up to 8 groups of at least 2 channels, valid even on a 1-voxel latent."""
    return nn.GroupNorm(math.gcd(8, max(channels // 2, 1)), channels)


def standardize(z: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Give every sample mean 0 and standard deviation 1 over all its positions and channels."""
    dims = tuple(range(1, z.ndim))
    mean = z.mean(dim=dims, keepdim=True)
    var = z.var(dim=dims, keepdim=True, unbiased=False)
    return (z - mean) / torch.sqrt(var + eps)


def stage_strides(latent_factor: Sequence[int], num_stages: int) -> list[tuple[int, ...]]:
    """Per-stage strides that downsample each axis by its ``latent_factor`` in ``num_stages`` steps.

    Axis ``a`` is halved in the first ``log2(latent_factor[a])`` stages and kept afterwards, so
    ``(16, 16, 2)`` with 4 stages gives ``(2, 2, 2), (2, 2, 1), (2, 2, 1), (2, 2, 1)``.
    """
    halvings = []
    for factor in latent_factor:
        n = round(math.log2(factor)) if factor > 0 else -1
        if n < 0 or 2**n != factor or n > num_stages:
            raise ValueError(
                f"latent factor {factor} must be a power of 2 between 1 and 2**{num_stages}"
            )
        halvings.append(n)
    return [tuple(2 if i < n else 1 for n in halvings) for i in range(num_stages)]


def network_strides(
    latent_factor: Sequence[int], num_stages: int, stem_stride: int = 1
) -> tuple[tuple[int, ...], list[tuple[int, ...]]]:
    """The stem's pooling and the per-stage strides that together downsample
    each axis by its ``latent_factor``; the stem takes ``stem_stride`` on every axis whose
    factor allows it, the stages the rest (``stage_strides``)."""
    stem = tuple(min(stem_stride, f) for f in latent_factor)
    rest = [f // s for f, s in zip(latent_factor, stem, strict=True)]
    return stem, stage_strides(rest, num_stages)


def pools(stem: Sequence[int] | None) -> bool:
    """Whether a stem (per-axis pooling, None for none) downsamples any axis."""
    return stem is not None and any(s != 1 for s in stem)


class ResidualBlock(nn.Module):
    """Pre-activation residual block (BatchNorm, swish, conv, dropout), optionally strided.

    The ResUNet block of the LDSeg encoders and decoder (Zaman et al. 2024, Sec. III-D).
    """

    def __init__(
        self, spatial_dims: int, in_ch: int, out_ch: int, stride=1, dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.norm1 = norm(spatial_dims, in_ch)
        self.conv1 = conv(spatial_dims, in_ch, out_ch, 3, stride)
        self.norm2 = norm(spatial_dims, out_ch)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = conv(spatial_dims, out_ch, out_ch, 3)
        strided = any(s != 1 for s in stride) if isinstance(stride, Sequence) else stride != 1
        self.skip = (
            conv(spatial_dims, in_ch, out_ch, 1, stride)
            if in_ch != out_ch or strided
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return h + self.skip(x)


class AttentionBlock(nn.Module):
    """Multi-head self-attention over all spatial positions, with a residual connection."""

    def __init__(self, channels: int, num_heads: int = 4) -> None:
        super().__init__()
        while channels % num_heads:
            num_heads -= 1
        self.num_heads = num_heads
        self.norm = group_norm(channels)
        self.qkv = nn.Linear(channels, 3 * channels)
        self.proj = nn.Linear(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, *spatial = x.shape
        tokens = self.norm(x).flatten(2).transpose(1, 2)  # (B, N, C)
        q, k, v = self.qkv(tokens).chunk(3, dim=-1)
        # Contiguous heads: CPU scaled_dot_product_attention is much slower on strided views.
        q, k, v = (
            t.reshape(b, -1, self.num_heads, c // self.num_heads).transpose(1, 2).contiguous()
            for t in (q, k, v)
        )
        if x.device.type == "cpu":  # under bf16 autocast the CPU attention backward is slow
            with torch.autocast("cpu", enabled=False):  # (benchmarks/README.md): keep it fp32
                out = F.scaled_dot_product_attention(q.float(), k.float(), v.float()).to(q.dtype)
        else:
            out = F.scaled_dot_product_attention(q, k, v)
        out = self.proj(out.transpose(1, 2).reshape(b, -1, c))
        return x + out.transpose(1, 2).reshape(b, c, *spatial)


def encoder_stages(
    spatial_dims: int,
    in_ch: int,
    channels: Sequence[int],
    strides: Sequence[Sequence[int]],
    dropout: float,
    stem: Sequence[int] | None = None,
) -> nn.ModuleList:
    """A first residual block, after a ``stem`` average pooling where it ``pools``, then
    one strided residual block per downsampling stage.

    The pooling, not a strided convolution, makes the stem: a strided block's 1x1 skip would
    carry single raw pixels, noise included, past every filter (measured: CAMUS Dice under
    noise SD 0.2 fell to 0.001 with it, 0.802 with the pooling; benchmarks/README.md).
    ``channels`` has one entry more than ``strides``: the first block's width first.
    """
    if len(channels) != len(strides) + 1:
        raise ValueError(f"need {len(strides) + 1} channel widths for {len(strides)} stages")
    first = ResidualBlock(spatial_dims, in_ch, channels[0], 1, dropout)
    if pools(stem):
        stem = tuple(stem)
        pool = nn.AvgPool2d(stem, stem) if spatial_dims == 2 else nn.AvgPool3d(stem, stem)
        first = nn.Sequential(pool, first)
    blocks = [first]
    for i, stride in enumerate(strides):
        blocks.append(ResidualBlock(spatial_dims, channels[i], channels[i + 1], stride, dropout))
    return nn.ModuleList(blocks)
