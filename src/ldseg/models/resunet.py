"""Res-UNet: the deterministic baseline built from LDSeg's own residual blocks and widths."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ldseg.nets.blocks import ResidualBlock, conv, encoder_stages, norm, transposed_conv


class ResUNet(nn.Module):
    """LDSeg's image-encoder trunk and label-decoder blocks joined by skip connections.

    The paper's strongest deterministic baseline (Zhang et al. 2018, ResUNet), with the same
    residual blocks, widths and per-axis strides as LDSeg so comparisons isolate the method.
    Returns logits.
    """

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        num_classes: int,
        channels: Sequence[int],
        strides: Sequence[Sequence[int]],
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        self.encoder = encoder_stages(spatial_dims, in_channels, channels, strides, dropout)
        self.up = nn.ModuleList()
        self.blocks = nn.ModuleList()
        for i in reversed(range(len(strides))):
            self.up.append(transposed_conv(spatial_dims, channels[i + 1], channels[i], strides[i]))
            self.blocks.append(
                ResidualBlock(spatial_dims, 2 * channels[i], channels[i], 1, dropout)
            )
        self.out_norm = norm(spatial_dims, channels[0])
        self.out = conv(spatial_dims, channels[0], num_classes, kernel=1)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        skips = []
        h = image
        for stage in self.encoder:
            h = stage(h)
            skips.append(h)
        skips.pop()
        for up, block in zip(self.up, self.blocks, strict=True):
            h = block(torch.cat([up(h), skips.pop()], dim=1))
        return self.out(F.silu(self.out_norm(h)))
