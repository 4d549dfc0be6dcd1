"""The interface every model has: what training, prediction and export ask of a segmenter.

Modelled on lucidrains' med-seg-diff-pytorch and diffusers: ``forward`` returns the training
loss, ``sample`` segments; a diffusion model also builds its own samplers (``make_sampler``)
and says what its reverse process starts from (``noise_shape``) and how a state of that process
becomes class probabilities (``decode``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import nn

from ldseg.diffusion import Sampler
from ldseg.diffusion.schedule import Generators

ZERO = torch.zeros(())


class TrainingLoss(NamedTuple):
    """The loss a training step minimises and its terms (each a scalar; a model without a term
    reports 0). Every field is a column of a run's ``metrics.csv``."""

    total: torch.Tensor
    ce: torch.Tensor
    dice: torch.Tensor  # 1 - soft Dice
    noise_mse: torch.Tensor  # the denoiser's regression loss on its prediction target
    path: torch.Tensor = ZERO  # CE + gamma x (1 - Dice) of the sampling-path cases (in total)


def check_divisible(spatial_shape: Sequence[int], factor: Sequence[int]) -> None:
    """Raise if ``spatial_shape`` does not divide by ``factor`` on every axis."""
    if len(spatial_shape) != len(factor) or any(
        s % f for s, f in zip(spatial_shape, factor, strict=True)
    ):
        raise ValueError(
            f"input size {tuple(spatial_shape)} must divide by {tuple(factor)} on every axis"
        )


def resolve_latent_factor(
    latent_factor: Sequence[int] | None, spatial_dims: int, num_stages: int
) -> tuple[int, ...]:
    """The downsampling factor per axis: ``latent_factor``, or ``2**num_stages`` on every axis."""
    return tuple(latent_factor) if latent_factor else (2**num_stages,) * spatial_dims


class Segmenter(nn.Module, ABC):
    """A segmentation model that ``ldseg train`` trains and ``ldseg predict`` runs.

    Attributes:
        spatial_dims: 2 or 3.
        num_classes: classes including background.
        ema_target: the submodule whose exponential moving average the trainer keeps and
            prediction uses (None: no EMA).
        exportable: whether ``ldseg export`` can write the model as one traced file.
    """

    spatial_dims: int
    num_classes: int
    ema_target: str | None = None
    exportable: bool = True

    @abstractmethod
    def check_size(self, spatial_shape: Sequence[int]) -> None:
        """Raise ``ValueError`` unless the model takes inputs of this spatial shape."""

    @abstractmethod
    def forward(
        self, image: torch.Tensor, mask: torch.Tensor, generator: Generators = None
    ) -> TrainingLoss:
        """The training loss of images ``(B, C, *S)`` against class indices ``(B, 1, *S)``;
        ``generator``: one for the batch or one per sample."""

    @abstractmethod
    def sample(
        self,
        image: torch.Tensor,
        sampler: Sampler | None,
        generator: torch.Generator | None = None,
        noise: torch.Tensor | None = None,
        trajectory: list[torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Class probabilities ``(B, num_classes, *S)`` of images ``(B, C, *S)``.

        A diffusion model runs ``sampler`` from ``noise`` (``(B, *noise_shape(S))``, drawn from
        ``generator`` when None) and appends the state after every step to ``trajectory``.
        """

    def make_sampler(self, name: str | None = None, steps: int = 2) -> Sampler | None:
        """A sampler for this model with K = ``steps`` (``name``: "ddim" or "ddpm", default the
        model's own); None for a model that segments in one deterministic pass."""
        return None

    def noise_shape(self, spatial_shape: Sequence[int]) -> tuple[int, ...] | None:
        """The shape of one image's initial noise (without the batch axis); None without a
        reverse process."""
        return None

    def decode(self, states: Sequence[torch.Tensor], image: torch.Tensor) -> list[torch.Tensor]:
        """Class probabilities of each reverse-process state (as ``sample`` appends them) of
        ``image``'s sampling."""
        raise ValueError(f"{type(self).__name__} has no reverse process to decode")

    def begin_epoch(self, epoch: int, epochs: int) -> bool:
        """Called before every training epoch (1-based, of ``epochs``); True when the set of
        trained parameters changed (a model trained in stages)."""
        return False

    @property
    def unused_parameters(self) -> bool:
        """Whether some parameters get no gradient in this training stage (DDP must know)."""
        return False
