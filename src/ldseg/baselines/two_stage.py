"""LSegDiff-style two-stage latent diffusion: the label autoencoder first, then frozen."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ldseg.diffusion.schedule import Generators
from ldseg.model import ZERO, LDSeg, LDSegLoss


class TwoStageLDSeg(LDSeg):
    """LDSeg's networks trained in two stages, as two-stage latent diffusion (LSegDiff) does.

    Stage ``"autoencoder"``: label encoder and decoder learn to reconstruct masks
    (cross-entropy + gamma x (1 - Dice)). Stage ``"diffusion"``: they are frozen (no gradients,
    batch-norm statistics fixed) and the image encoder and denoiser learn the latent noise MSE
    only; no segmentation loss reaches them through the decoder.
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

    def train(self, mode: bool = True) -> TwoStageLDSeg:
        super().train(mode)
        if self.stage == "diffusion":
            self.label_encoder.eval()
            self.label_decoder.eval()
        return self

    def forward(
        self, image: torch.Tensor, mask: torch.Tensor, generator: Generators = None
    ) -> LDSegLoss:
        self.check_size(image.shape[2:])
        if self.stage == "autoencoder":
            logits = self.label_decoder(self.label_encoder(mask))
            ce = F.cross_entropy(logits, mask[:, 0].long())
            dice = self.dice_loss(logits, mask)
            return LDSegLoss(ce + self.gamma * dice, ce, dice, ZERO)
        with torch.no_grad():
            z0 = self.label_encoder(mask)
        t, noise = self.schedule.training_noise(
            z0, generator, self.focus_timesteps, self.timestep_share
        )
        output = self.denoiser(self.schedule.add_noise(z0, noise, t), self.image_encoder(image), t)
        mse = F.mse_loss(output, self.schedule.prediction_target(z0, noise, t, self.prediction))
        return LDSegLoss(mse, ZERO, ZERO, mse)
