"""Ancestral DDPM sampler (Ho, Jain & Abbeel 2020) generalised to skipped timesteps."""

from __future__ import annotations

import math

import torch

from .base import Sampler, gaussian_noise


class DDPMSampler(Sampler):
    """Samples the posterior q(z_prev | z_t, x0) between consecutive chosen timesteps.

    With beta' = 1 - abar_t / abar_prev: mean = sqrt(abar_prev) beta' / (1 - abar_t) x0
    + sqrt(1 - beta') (1 - abar_prev) / (1 - abar_t) z_t, variance = beta' (1 - abar_prev)
    / (1 - abar_t). With K = T, beta' = beta_t and this is Ho et al.'s eqs. 6-7.
    """

    def step(
        self,
        output: torch.Tensor,
        t: int,
        z_t: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Posterior mean plus its standard deviation times N(0, I); no noise on the last step."""
        abar_t, abar_prev = self._abars(output, t, z_t)
        beta = 1 - abar_t / abar_prev
        x0, _ = self.x0_and_eps(output, t, z_t)
        mean = (math.sqrt(abar_prev) * beta / (1 - abar_t)) * x0 + (
            math.sqrt(1 - beta) * (1 - abar_prev) / (1 - abar_t)
        ) * z_t
        variance = beta * (1 - abar_prev) / (1 - abar_t)
        if self.prev_timestep(t) == 0:
            return mean
        return mean + math.sqrt(variance) * gaussian_noise(z_t, generator)
