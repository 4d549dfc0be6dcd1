"""What the DDIM and DDPM samplers share: timestep bookkeeping, checks and the noise draw."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import torch

from .schedule import PREDICTION_TYPES, NoiseSchedule, select_timesteps, split_prediction


def gaussian_noise(like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """N(0, I) noise of ``like``'s shape, dtype and device."""
    return torch.randn(like.shape, generator=generator, dtype=like.dtype, device=like.device)


class Sampler(ABC):
    """A reverse-process sampler over K chosen timesteps t_1 > ... > t_K, then t = 0 (clean).

    ``prediction`` is what the denoiser outputs: ``"eps"`` (the noise), ``"v"`` or ``"x0"``
    (see ``split_prediction``); ``step`` takes that output.
    """

    def __init__(self, schedule: NoiseSchedule, prediction: str = "eps") -> None:
        if prediction not in PREDICTION_TYPES:
            raise ValueError(
                f"unknown prediction {prediction!r}; allowed: {', '.join(PREDICTION_TYPES)}"
            )
        self.schedule = schedule
        self.prediction = prediction
        self.timesteps: torch.Tensor | None = None
        self._prev: dict[int, int] = {}
        self._abar: dict[int, float] = {}

    @property
    def stochastic(self) -> bool:
        """Whether ``step`` draws noise (then a batch's steps depend on its composition)."""
        return True

    def set_timesteps(self, num_steps: int) -> None:
        """Choose K = num_steps timesteps: round(linspace(1, T, K)), descending."""
        self.timesteps = select_timesteps(num_steps, self.schedule.num_train_timesteps)
        chosen = self.timesteps.tolist()
        self._prev = dict(zip(chosen, [*chosen[1:], 0], strict=True))
        # Python floats, so that a traced or exported sampler holds them as constants.
        self._abar = {t: float(self.schedule.abar(t)) for t in [*chosen, 0]}

    def prev_timestep(self, t: int) -> int:
        """The chosen timestep that follows t, or 0 after the last one."""
        if self.timesteps is None:
            raise ValueError("call set_timesteps(num_steps) before sampling")
        if int(t) not in self._prev:
            raise ValueError(f"timestep {t} is not one of the chosen {self.timesteps.tolist()}")
        return self._prev[int(t)]

    def _abars(self, output: torch.Tensor, t: int, z_t: torch.Tensor) -> tuple[float, float]:
        """Check a step's inputs; return (abar_t, abar_prev) as Python floats (float64 math)."""
        if output.shape != z_t.shape:
            raise ValueError(
                f"model output and z_t shapes differ: {tuple(output.shape)} vs {tuple(z_t.shape)}"
            )
        prev = self.prev_timestep(t)
        return self._abar[int(t)], self._abar[prev]

    def x0_and_eps(
        self, output: torch.Tensor, t: int, z_t: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The clean-latent estimate and the noise implied by the denoiser's ``output`` at t."""
        abar_t, _ = self._abars(output, t, z_t)
        return split_prediction(
            output, z_t, math.sqrt(abar_t), math.sqrt(1 - abar_t), self.prediction
        )

    @abstractmethod
    def step(
        self,
        output: torch.Tensor,
        t: int,
        z_t: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """One reverse step from z_t to z at the next chosen timestep, given the denoiser's
        output at t (of the sampler's ``prediction`` type)."""
