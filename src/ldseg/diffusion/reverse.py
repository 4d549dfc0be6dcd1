"""The reverse process: one loop over a sampler's timesteps, for every diffusion model here."""

from __future__ import annotations

from collections.abc import Callable

import torch

from .base import Sampler


def reverse_process(
    denoise: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    z: torch.Tensor,
    sampler: Sampler,
    generator: torch.Generator | None = None,
    after_step: Callable[[torch.Tensor], torch.Tensor] | None = None,
    trajectory: list[torch.Tensor] | None = None,
) -> torch.Tensor:
    """Run ``z`` (noise at the first chosen timestep) down to t = 0.

    Args:
        denoise: ``denoise(z_t, t_batch)``, the model output of the sampler's prediction type,
            with ``t_batch`` the timestep for every sample, shape ``(B,)``.
        z: the initial noise.
        sampler: a sampler with its timesteps set.
        generator: random source of a stochastic sampler's noise.
        after_step: applied to the latent after every step (LDSeg re-standardises it).
        trajectory: if given, the latent after every step is appended to it (detached).

    Differentiable when called with gradients enabled (LDSeg's sampling-path loss).
    """
    if sampler.timesteps is None:
        raise ValueError("call sampler.set_timesteps(num_steps) before sampling")
    for t in sampler.timesteps.tolist():
        t_batch = torch.full((z.shape[0],), t, device=z.device, dtype=torch.long)
        z = sampler.step(denoise(z, t_batch), t, z, generator=generator)
        if after_step is not None:
            z = after_step(z)
        if trajectory is not None:
            trajectory.append(z.detach().clone())
    return z
