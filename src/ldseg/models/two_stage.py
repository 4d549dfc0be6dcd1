"""LSegDiff-style two-stage latent diffusion: the label autoencoder first, then frozen."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ldseg.diffusion.schedule import Generators
from ldseg.models.base import ZERO, TrainingLoss
from ldseg.models.ldseg import LDSeg


class TwoStageLDSeg(LDSeg):
    """LDSeg's networks trained in two stages, as two-stage latent diffusion (LSegDiff) does.

    Stage ``"autoencoder"``: label encoder and decoder learn to reconstruct masks
    (cross-entropy + gamma x (1 - Dice)). Stage ``"diffusion"``: they are frozen (no gradients,
    batch-norm statistics fixed) and the image encoder and denoiser learn the latent noise MSE
    only; no segmentation loss reaches them through the decoder. Training gives the first half
    of its epochs to the autoencoder stage.
    """

    stages = ("autoencoder", "diffusion")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.stage = "autoencoder"

    def set_stage(self, stage: str) -> None:
        if stage not in self.stages:
            raise ValueError(f"stage must be one of {self.stages}, got {stage!r}")
        self.stage = stage
        frozen = stage == "diffusion"
        for module in (self.label_encoder, self.label_decoder):
            module.requires_grad_(not frozen)
        self.train(self.training)

    def begin_epoch(self, epoch: int, epochs: int) -> bool:
        """Enter the stage of ``epoch``: the autoencoder up to half of ``epochs``, then diffusion;
        True when that changes the stage."""
        stage = self.stages[0 if epoch <= math.ceil(epochs / 2) else 1]
        changed = stage != self.stage
        self.set_stage(stage)
        return changed

    @property
    def unused_parameters(self) -> bool:
        """The autoencoder stage leaves the image encoder and denoiser without gradients."""
        return self.stage == "autoencoder"

    def train(self, mode: bool = True) -> TwoStageLDSeg:
        super().train(mode)
        if self.stage == "diffusion":
            self.label_encoder.eval()
            self.label_decoder.eval()
        return self

    def forward(
        self, image: torch.Tensor, mask: torch.Tensor, generator: Generators = None
    ) -> TrainingLoss:
        self.check_size(image.shape[2:])
        if self.stage == "autoencoder":
            logits = self.label_decoder(self.label_encoder(mask))
            ce = F.cross_entropy(logits, mask[:, 0].long())
            dice = self.dice_loss(logits, mask)
            return TrainingLoss(ce + self.gamma * dice, ce, dice, ZERO)
        with torch.no_grad():
            z0 = self.label_encoder(mask)
        t, noise = self.schedule.training_noise(
            z0, generator, self.focus_timesteps, self.timestep_share
        )
        output = self.denoiser(self.schedule.add_noise(z0, noise, t), self.image_encoder(image), t)
        mse = F.mse_loss(output, self.schedule.prediction_target(z0, noise, t, self.prediction))
        return TrainingLoss(mse, ZERO, ZERO, mse)
