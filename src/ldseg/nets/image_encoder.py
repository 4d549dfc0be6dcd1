"""Image encoder f_ie: an image to a one-channel latent z_i of the same shape as z_l0."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ldseg.nets.blocks import AttentionBlock, conv, encoder_stages, norm


class ImageEncoder(nn.Module):
    """Residual encoder with self-attention after the last two downsampling stages.

    Zaman et al. 2024, Sec. III-D: the image encoder mirrors the label encoder, adds
    multi-head attention to its final two downsampling stages and to its one-channel output,
    and ends in swish and batch normalisation.

    Args:
        spatial_dims: 2 or 3.
        in_channels: image channels (1 grey, 3 RGB, or several sequences).
        channels: widths at full resolution and after each downsampling stage.
        strides: per-stage strides (see ``stage_strides``).
        num_heads: attention heads.
        dropout: dropout inside the residual blocks.
    """

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        channels: Sequence[int],
        strides: Sequence[Sequence[int]],
        num_heads: int = 4,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        self.stages = encoder_stages(spatial_dims, in_channels, channels, strides, dropout)
        num_attended = min(2, len(strides))
        self.attention = nn.ModuleDict(
            {
                str(i): AttentionBlock(channels[i], num_heads)
                for i in range(len(channels) - num_attended, len(channels))
            }
        )
        self.out = conv(spatial_dims, channels[-1], 1, kernel=1)
        self.out_attention = AttentionBlock(1, num_heads=1)
        self.out_norm = norm(spatial_dims, 1)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        h = image
        for i, stage in enumerate(self.stages):
            h = stage(h)
            if str(i) in self.attention:
                h = self.attention[str(i)](h)
        return self.out_norm(F.silu(self.out_attention(self.out(h))))
