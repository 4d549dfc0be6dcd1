"""Parameter-free stand-ins for LDSeg's encoders: the paper's "ld" and "id" ablations."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ldseg.nets.blocks import standardize


class DownsampledLabelEncoder(nn.Module):
    """ "ld": the mask's class indices, nearest-neighbour downsampled to the latent size.

    Scaled to [0, 1] by the number of classes, then standardised like the learned ``z_l0``.
    """

    def __init__(self, num_classes: int, latent_factor: tuple[int, ...]) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.latent_factor = latent_factor

    def forward(self, mask: torch.Tensor) -> torch.Tensor:
        size = [s // f for s, f in zip(mask.shape[2:], self.latent_factor, strict=True)]
        z = F.interpolate(mask.float(), size=size, mode="nearest-exact")
        return standardize(z / (self.num_classes - 1))


class DownsampledImageEncoder(nn.Module):
    """ "id": the image averaged over channels and area-downsampled to the latent size."""

    def __init__(self, latent_factor: tuple[int, ...]) -> None:
        super().__init__()
        self.latent_factor = latent_factor

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        size = [s // f for s, f in zip(image.shape[2:], self.latent_factor, strict=True)]
        return standardize(F.interpolate(image.mean(1, keepdim=True), size=size, mode="area"))
