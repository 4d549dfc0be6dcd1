"""DDIM sampler (Song, Meng & Ermon 2021, eq. 12) over LDSeg's evenly spaced timesteps."""

from __future__ import annotations

import math

import torch

from .base import Sampler, gaussian_noise
from .schedule import NoiseSchedule


class DDIMSampler(Sampler):
    """DDIM with stochasticity eta in [0, 1]: eta = 0 is deterministic, eta = 1 is DDPM-like.

    Each step jumps to abar of the next *chosen* timestep (abar_0 = 1 after the last), which
    is what makes K = 2 sampling correct; MONAI's scheduler jumps by T // K instead.
    """

    def __init__(self, schedule: NoiseSchedule, eta: float = 0.0, prediction: str = "eps") -> None:
        if not 0.0 <= eta <= 1.0:
            raise ValueError(f"eta must lie in [0, 1], got {eta}")
        super().__init__(schedule, prediction)
        self.eta = float(eta)

    @property
    def stochastic(self) -> bool:
        return self.eta > 0

    def step(
        self,
        output: torch.Tensor,
        t: int,
        z_t: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """z_prev = sqrt(abar_prev) x0 + sqrt(1 - abar_prev - sigma^2) eps + sigma noise."""
        abar_t, abar_prev = self._abars(output, t, z_t)
        x0, eps = self.x0_and_eps(output, t, z_t)
        sigma = (
            self.eta * math.sqrt((1 - abar_prev) / (1 - abar_t)) * math.sqrt(1 - abar_t / abar_prev)
        )
        direction = math.sqrt(max(1 - abar_prev - sigma**2, 0.0))
        z_prev = math.sqrt(abar_prev) * x0 + direction * eps
        if sigma > 0:
            z_prev = z_prev + sigma * gaussian_noise(z_t, generator)
        return z_prev
