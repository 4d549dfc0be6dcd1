"""Label encoder f_le: a mask to its standardised latent z_l0 (the shape manifold)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ldseg.nets.blocks import conv, encoder_stages, norm, standardize


class LabelEncoder(nn.Module):
    """ResUNet-style encoder without skips that maps a one-hot mask to ``z_l0``.

    Zaman et al. 2024, Sec. III-D: residual blocks with four downsamplings, a 1x1 convolution
    to the latent's channels (one in the paper, ``latent_channels`` here), then a normalisation
    that gives every sample mean 0 and std 1, the statistics of the diffusion prior.

    Args:
        spatial_dims: 2 or 3.
        num_classes: channels of the one-hot input mask.
        channels: widths of the first block and after each downsampling stage.
        strides: per-stage strides (see ``stage_strides``).
        dropout: dropout inside the residual blocks.
        stem: the stem's average pooling per axis (None or 1: none, the paper).
        latent_channels: channels of ``z_l0`` (the paper: 1).
    """

    def __init__(
        self,
        spatial_dims: int,
        num_classes: int,
        channels: Sequence[int],
        strides: Sequence[Sequence[int]],
        dropout: float = 0.2,
        stem: Sequence[int] | None = None,
        latent_channels: int = 1,
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.stages = encoder_stages(spatial_dims, num_classes, channels, strides, dropout, stem)
        self.out_norm = norm(spatial_dims, channels[-1])
        self.out = conv(spatial_dims, channels[-1], latent_channels, kernel=1)

    def forward(self, mask: torch.Tensor) -> torch.Tensor:
        """Encode a mask of class indices ``(B, 1, *S)`` or one-hot ``(B, C, *S)``."""
        if mask.shape[1] == 1 and self.num_classes > 1:
            mask = F.one_hot(mask[:, 0].long(), self.num_classes).movedim(-1, 1).float()
            # Contiguous: torch 2.13's CPU conv backward segfaults on this strided view
            # for some batch sizes (3, for one).
            mask = mask.contiguous()
        h = mask
        for stage in self.stages:
            h = stage(h)
        return standardize(self.out(F.silu(self.out_norm(h))))
