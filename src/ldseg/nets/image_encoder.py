"""Image encoder f_ie: an image to the latent z_i (one channel in the paper) on z_l0's grid."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ldseg.nets.blocks import AttentionBlock, conv, encoder_stages, norm


def stage_tokens(input_size: Sequence[int], strides: Sequence[Sequence[int]]) -> list[int]:
    """Positions (attention tokens) after each stage: full resolution, then each stride."""
    size = list(input_size)
    tokens = [math.prod(size)]
    for stride in strides:
        size = [s // f for s, f in zip(size, stride, strict=True)]
        tokens.append(math.prod(size))
    return tokens


class ImageEncoder(nn.Module):
    """Residual encoder with self-attention after the last two downsampling stages.

    Zaman et al. 2024, Sec. III-D: the image encoder mirrors the label encoder, adds
    multi-head attention to its final two downsampling stages and to its one-channel output,
    and ends in swish and batch normalisation.

    Args:
        spatial_dims: 2 or 3.
        in_channels: image channels (1 grey, 3 RGB, or several sequences).
        channels: widths of the first block and after each downsampling stage.
        strides: per-stage strides (see ``stage_strides``).
        num_heads: attention heads.
        dropout: dropout inside the residual blocks.
        max_attention_tokens, input_size: with both, a self-attention block is kept only where
            the grid of an ``input_size`` input has at most that many positions (attention is
            quadratic in them: 4,096 after the third stage of a 512 x 512 image).
        out_channels: channels of the image latent ``z_i`` (the paper: 1).
        stem: the stem's average pooling per axis (None or 1: none, the paper).
    """

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        channels: Sequence[int],
        strides: Sequence[Sequence[int]],
        num_heads: int = 4,
        dropout: float = 0.2,
        max_attention_tokens: int | None = None,
        input_size: Sequence[int] | None = None,
        out_channels: int = 1,
        stem: Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        self.stages = encoder_stages(spatial_dims, in_channels, channels, strides, dropout, stem)
        first = stem or (1,) * spatial_dims
        tokens = stage_tokens(input_size, [first, *strides])[1:] if input_size else None

        def attends(stage: int) -> bool:
            limit = max_attention_tokens
            return limit is None or tokens is None or tokens[stage] <= limit

        num_attended = min(2, len(strides))
        self.attention = nn.ModuleDict(
            {
                str(i): AttentionBlock(channels[i], num_heads)
                for i in range(len(channels) - num_attended, len(channels))
                if attends(i)
            }
        )
        self.out = conv(spatial_dims, channels[-1], out_channels, kernel=1)
        self.out_attention = (
            AttentionBlock(out_channels, num_heads=1) if attends(len(strides)) else nn.Identity()
        )
        self.out_norm = norm(spatial_dims, out_channels)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.features(image)[0]

    def features(self, image: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``z_i`` and every stage's output, the first block's first (a decoder's skips)."""
        h, stages = image, []
        for i, stage in enumerate(self.stages):
            h = stage(h)
            if str(i) in self.attention:
                h = self.attention[str(i)](h)
            stages.append(h)
        return self.out_norm(F.silu(self.out_attention(self.out(h)))), stages
