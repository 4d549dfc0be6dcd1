"""The deterministic baselines' wrapper: a network trained with cross-entropy + Dice."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from monai.losses import DiceLoss
from torch import nn

from ldseg.diffusion import Sampler
from ldseg.diffusion.schedule import Generators
from ldseg.models.base import ZERO, Segmenter, TrainingLoss, check_divisible


class DeterministicSegmenter(Segmenter):
    """A network that returns logits, trained with cross-entropy + Dice (MONAI's DiceCE terms);
    one pass segments (Res-UNet and MONAI's UNet in the paper's comparisons)."""

    def __init__(
        self, net: nn.Module, spatial_dims: int, num_classes: int, multiple: tuple[int, ...]
    ) -> None:
        super().__init__()
        self.net = net
        self.multiple = multiple
        self.spatial_dims = spatial_dims
        self.num_classes = num_classes
        self.dice_loss = DiceLoss(to_onehot_y=True, softmax=True)

    def check_size(self, spatial_shape: Sequence[int]) -> None:
        check_divisible(spatial_shape, self.multiple)

    def forward(
        self, image: torch.Tensor, mask: torch.Tensor, generator: Generators = None
    ) -> TrainingLoss:
        self.check_size(image.shape[2:])
        logits = self.net(image)
        ce = F.cross_entropy(logits, mask[:, 0].long())
        dice = self.dice_loss(logits, mask)
        return TrainingLoss(ce + dice, ce, dice, ZERO)

    @torch.no_grad()
    def sample(
        self,
        image: torch.Tensor,
        sampler: Sampler | None = None,
        generator: torch.Generator | None = None,
        noise: torch.Tensor | None = None,
        trajectory: list[torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Class probabilities; the sampling arguments are unused (one deterministic pass)."""
        self.check_size(image.shape[2:])
        return torch.softmax(self.net(image), dim=1)
