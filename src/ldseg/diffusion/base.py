"""What the DDIM and DDPM samplers share: timestep bookkeeping, checks and the noise draw."""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch

from .schedule import NoiseSchedule, select_timesteps


def gaussian_noise(like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """N(0, I) noise of ``like``'s shape, dtype and device."""
    return torch.randn(like.shape, generator=generator, dtype=like.dtype, device=like.device)


class Sampler(ABC):
    """A reverse-process sampler over K chosen timesteps t_1 > ... > t_K, then t = 0 (clean)."""

    def __init__(self, schedule: NoiseSchedule) -> None:
        self.schedule = schedule
        self.timesteps: torch.Tensor | None = None
        self._prev: dict[int, int] = {}
        self._abar: dict[int, float] = {}

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

    def _abars(self, eps: torch.Tensor, t: int, z_t: torch.Tensor) -> tuple[float, float]:
        """Check a step's inputs; return (abar_t, abar_prev) as Python floats (float64 math)."""
        if eps.shape != z_t.shape:
            raise ValueError(f"eps and z_t shapes differ: {tuple(eps.shape)} vs {tuple(z_t.shape)}")
        prev = self.prev_timestep(t)
        return self._abar[int(t)], self._abar[prev]

    @abstractmethod
    def step(
        self,
        eps: torch.Tensor,
        t: int,
        z_t: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """One reverse step from z_t to z at the next chosen timestep, given the predicted eps."""
