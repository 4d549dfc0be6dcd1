"""Label decoder f_ld: a latent back to class logits at full resolution."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ldseg.nets.blocks import ResidualBlock, conv, norm, transposed_conv


class LabelDecoder(nn.Module):
    """ResUNet-style decoder without skips: transposed-conv upsampling and residual blocks.

    Zaman et al. 2024, Sec. III-D. Returns logits; the softmax of the paper is applied by the
    loss and by sampling.

    Args:
        spatial_dims: 2 or 3.
        num_classes: output channels.
        channels: the encoder's widths, full resolution first; the decoder runs them backwards.
        strides: the encoder's per-stage strides.
        dropout: dropout inside the residual blocks.
    """

    def __init__(
        self,
        spatial_dims: int,
        num_classes: int,
        channels: Sequence[int],
        strides: Sequence[Sequence[int]],
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        self.inp = conv(spatial_dims, 1, channels[-1], kernel=3)
        self.inp_block = ResidualBlock(spatial_dims, channels[-1], channels[-1], 1, dropout)
        self.up = nn.ModuleList()
        self.blocks = nn.ModuleList()
        for i in reversed(range(len(strides))):
            self.up.append(transposed_conv(spatial_dims, channels[i + 1], channels[i], strides[i]))
            self.blocks.append(ResidualBlock(spatial_dims, channels[i], channels[i], 1, dropout))
        self.out_norm = norm(spatial_dims, channels[0])
        self.out = conv(spatial_dims, channels[0], num_classes, kernel=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.inp_block(self.inp(z))
        for up, block in zip(self.up, self.blocks, strict=True):
            h = block(up(h))
        return self.out(F.silu(self.out_norm(h)))
