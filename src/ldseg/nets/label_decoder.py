"""Label decoder f_ld: a latent back to class logits at full resolution."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ldseg.nets.blocks import ResidualBlock, conv, norm, pools, transposed_conv


class LabelDecoder(nn.Module):
    """ResUNet-style decoder: transposed-conv upsampling and residual blocks.

    Zaman et al. 2024, Sec. III-D: the paper's decoder sees the latent alone. With
    ``image_skips`` it also takes the image encoder's stage outputs, U-Net fashion: after each
    upsampling the features of the same grid are concatenated before the residual block (an
    ldseg departure, measured in benchmarks/README.md). Returns logits; the softmax of the
    paper is applied by the loss and by sampling.

    Args:
        spatial_dims: 2 or 3.
        num_classes: output channels.
        channels: the encoder's widths, full resolution first; the decoder runs them backwards.
        strides: the encoder's per-stage strides.
        dropout: dropout inside the residual blocks.
        image_skips: take the image encoder's stage outputs (widths ``channels``) as skips.
        stem: the encoders' stem pooling; when not 1, a transposed convolution returns the last
            block's output to full resolution and a 3x3 convolution gives the logits.
        latent_channels: channels of the latent it decodes (the paper: 1).
        head_image_channels: with a pooling ``stem`` and ``image_skips``, the full-resolution
            head also takes the image (this many channels) through one 3x3 convolution, so
            boundaries finer than the stem's grid can follow it; the image then comes first
            in ``skips`` (0: no, the paper and ldseg's default).
    """

    def __init__(
        self,
        spatial_dims: int,
        num_classes: int,
        channels: Sequence[int],
        strides: Sequence[Sequence[int]],
        dropout: float = 0.2,
        image_skips: bool = False,
        stem: Sequence[int] | None = None,
        latent_channels: int = 1,
        head_image_channels: int = 0,
    ) -> None:
        super().__init__()
        if head_image_channels and not (image_skips and pools(stem)):
            raise ValueError("an image head needs image_skips and a pooling stem")
        self.image_skips = image_skips
        widen = 2 if image_skips else 1
        self.inp = conv(spatial_dims, latent_channels, channels[-1], kernel=3)
        self.inp_block = ResidualBlock(spatial_dims, channels[-1], channels[-1], 1, dropout)
        self.up = nn.ModuleList()
        self.blocks = nn.ModuleList()
        for i in reversed(range(len(strides))):
            self.up.append(transposed_conv(spatial_dims, channels[i + 1], channels[i], strides[i]))
            self.blocks.append(
                ResidualBlock(spatial_dims, widen * channels[i], channels[i], 1, dropout)
            )
        width, upsample = channels[0], pools(stem)
        self.head = transposed_conv(spatial_dims, width, width, stem) if upsample else nn.Identity()
        self.head_image = head_image_channels > 0
        self.head_block = (
            conv(spatial_dims, width + head_image_channels, width, kernel=3)
            if self.head_image
            else nn.Identity()
        )
        self.out_norm = norm(spatial_dims, width)
        self.out = conv(spatial_dims, width, num_classes, kernel=3 if upsample else 1)

    def forward(self, z: torch.Tensor, skips: Sequence[torch.Tensor] | None = None) -> torch.Tensor:
        """Logits of latents ``z``; ``skips``: the image encoder's stage outputs (with
        ``image_skips``, and only then), after the image itself with an image head."""
        if (skips is not None) != self.image_skips:
            raise ValueError(
                "this decoder needs the image encoder's stage outputs"
                if self.image_skips
                else "this decoder takes no image skips"
            )
        image = None
        if self.head_image:
            image, *skips = skips
        h = self.inp_block(self.inp(z))
        for i, (up, block) in enumerate(zip(self.up, self.blocks, strict=True)):
            h = up(h)
            if skips is not None:
                h = torch.cat([h, skips[len(self.blocks) - 1 - i]], dim=1)
            h = block(h)
        h = self.head(h)
        if image is not None:
            h = self.head_block(torch.cat([h, image], dim=1))
        return self.out(F.silu(self.out_norm(h)))
