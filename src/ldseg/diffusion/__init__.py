"""Forward noise schedules and few-step reverse samplers for the LDSeg latent diffusion."""

from .base import Sampler
from .ddim import DDIMSampler
from .ddpm import DDPMSampler
from .schedule import SCHEDULE_KINDS, NoiseSchedule, select_timesteps

SAMPLER_NAMES = ("ddim", "ddpm")


def make_sampler(name: str, schedule: NoiseSchedule, eta: float = 0.0) -> Sampler:
    """A sampler by name, "ddim" (with eta) or "ddpm" (eta must stay 0)."""
    if name == "ddim":
        return DDIMSampler(schedule, eta=eta)
    if name == "ddpm":
        if eta != 0.0:
            raise ValueError(f"eta applies to the ddim sampler only, got eta={eta} for ddpm")
        return DDPMSampler(schedule)
    raise ValueError(f"unknown sampler {name!r}; allowed: {', '.join(SAMPLER_NAMES)}")


__all__ = [
    "SAMPLER_NAMES",
    "SCHEDULE_KINDS",
    "DDIMSampler",
    "DDPMSampler",
    "NoiseSchedule",
    "Sampler",
    "make_sampler",
    "select_timesteps",
]
