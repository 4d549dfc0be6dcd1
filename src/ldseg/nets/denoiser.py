"""Conditional latent denoiser f_dn(z_lt, z_i, t): a small DDPM UNet that predicts the noise."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ldseg.nets.blocks import AttentionBlock, conv, group_norm


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of (possibly fractional) timesteps ``t`` of shape (B,)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class TimeResidualBlock(nn.Module):
    """Residual block with GroupNorm, swish and an additive time embedding (Ho et al. 2020)."""

    def __init__(
        self, spatial_dims: int, in_ch: int, out_ch: int, time_dim: int, dropout: float
    ) -> None:
        super().__init__()
        self.norm1 = group_norm(in_ch)
        self.conv1 = conv(spatial_dims, in_ch, out_ch)
        self.time = nn.Linear(time_dim, out_ch)
        self.norm2 = group_norm(out_ch)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = conv(spatial_dims, out_ch, out_ch)
        self.skip = conv(spatial_dims, in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time(temb).reshape(*temb.shape[:1], -1, *([1] * (x.ndim - 2)))
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return h + self.skip(x)


class LatentDenoiser(nn.Module):
    """DDPM UNet on the latent, conditioned by concatenating the image latent ``z_i``.

    Zaman et al. 2024, Sec. III-D, after Ho et al. 2020: the input is ``[z_lt, z_i]`` (two
    channels in the paper, where ``z_i`` has one), residual blocks with GroupNorm and time
    injection, self-attention at the lower levels and in the middle. Downsampling rounds up and
    upsampling restores the skip's exact size, so any latent shape works (anisotropic, odd, or
    1 voxel thick).

    Args:
        spatial_dims: 2 or 3.
        channels: widths per level, e.g. (16, 32, 64).
        attention: per level, whether its blocks are followed by self-attention.
        num_res_blocks: residual blocks per level.
        num_heads: attention heads.
        dropout: dropout inside the residual blocks.
        condition_channels: channels of ``z_i``.
        latent_channels: channels of ``z_t`` and of the prediction.
    """

    def __init__(
        self,
        spatial_dims: int,
        channels: Sequence[int] = (16, 32, 64),
        attention: Sequence[bool] = (False, True, True),
        num_res_blocks: int = 2,
        num_heads: int = 4,
        dropout: float = 0.0,
        condition_channels: int = 1,
        latent_channels: int = 1,
    ) -> None:
        super().__init__()
        if len(attention) != len(channels):
            raise ValueError(f"attention {attention} needs one flag per level of {channels}")
        self.time_dim = 4 * channels[0]
        self.time_mlp = nn.Sequential(
            nn.Linear(channels[0], self.time_dim),
            nn.SiLU(),
            nn.Linear(self.time_dim, self.time_dim),
        )
        self.inp = conv(spatial_dims, latent_channels + condition_channels, channels[0])

        def level(in_ch: int, out_ch: int, attend: bool) -> nn.ModuleList:
            mods: list[nn.Module] = [
                TimeResidualBlock(spatial_dims, in_ch, out_ch, self.time_dim, dropout)
            ]
            if attend:
                mods.append(AttentionBlock(out_ch, num_heads))
            return nn.ModuleList(mods)

        self.down = nn.ModuleList()
        self.downsample = nn.ModuleList()
        skip_channels = [channels[0]]
        ch = channels[0]
        for i, (width, attend) in enumerate(zip(channels, attention, strict=True)):
            for _ in range(num_res_blocks):
                self.down.append(level(ch, width, attend))
                ch = width
                skip_channels.append(ch)
            if i < len(channels) - 1:
                self.downsample.append(conv(spatial_dims, ch, ch, 3, stride=2))
                skip_channels.append(ch)
        self.mid = nn.ModuleList(
            [
                TimeResidualBlock(spatial_dims, ch, ch, self.time_dim, dropout),
                AttentionBlock(ch, num_heads),
                TimeResidualBlock(spatial_dims, ch, ch, self.time_dim, dropout),
            ]
        )
        self.up = nn.ModuleList()
        self.upsample = nn.ModuleList()
        for i, (width, attend) in reversed(list(enumerate(zip(channels, attention, strict=True)))):
            for _ in range(num_res_blocks + 1):
                self.up.append(level(ch + skip_channels.pop(), width, attend))
                ch = width
            if i > 0:
                self.upsample.append(conv(spatial_dims, ch, ch, 3))
        self.out_norm = group_norm(ch)
        self.out = conv(spatial_dims, ch, latent_channels)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        self.num_res_blocks = num_res_blocks

    @staticmethod
    def _run_level(mods: nn.ModuleList, h: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h = mods[0](h, temb)
        for mod in mods[1:]:
            h = mod(h)
        return h

    def forward(self, z_t: torch.Tensor, z_i: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Predict the noise in ``z_t`` at timesteps ``t`` (shape (B,)) given the image latent."""
        temb = self.time_mlp(timestep_embedding(t, self.time_mlp[0].in_features))
        h = self.inp(torch.cat([z_t, z_i], dim=1))
        skips = [h]
        per_level = self.num_res_blocks
        for j, mods in enumerate(self.down):
            h = self._run_level(mods, h, temb)
            skips.append(h)
            if j % per_level == per_level - 1 and j // per_level < len(self.downsample):
                h = self.downsample[j // per_level](h)
                skips.append(h)
        h = self.mid[0](h, temb)
        h = self.mid[1](h)
        h = self.mid[2](h, temb)
        per_level += 1
        for j, mods in enumerate(self.up):
            h = self._run_level(mods, torch.cat([h, skips.pop()], dim=1), temb)
            if j % per_level == per_level - 1 and j // per_level < len(self.upsample):
                h = F.interpolate(h, size=skips[-1].shape[2:], mode="nearest")
                h = self.upsample[j // per_level](h)
        return self.out(F.silu(self.out_norm(h)))
