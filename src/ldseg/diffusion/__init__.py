"""Forward noise schedules and few-step reverse samplers for the LDSeg latent diffusion."""

from .base import Sampler
from .ddim import DDIMSampler
from .ddpm import DDPMSampler
from .reverse import reverse_process
from .schedule import PREDICTION_TYPES, SCHEDULE_KINDS, NoiseSchedule, select_timesteps

DDIM, DDPM = "ddim", "ddpm"
SAMPLER_NAMES = (DDIM, DDPM)


def make_sampler(
    name: str, schedule: NoiseSchedule, eta: float = 0.0, prediction: str = "eps"
) -> Sampler:
    """A sampler by name, "ddim" (with eta) or "ddpm" (eta must stay 0), for a denoiser that
    predicts ``prediction`` ("eps", "v" or "x0")."""
    if name == DDIM:
        return DDIMSampler(schedule, eta=eta, prediction=prediction)
    if name == DDPM:
        if eta != 0.0:
            raise ValueError(f"eta applies to the ddim sampler only, got eta={eta} for ddpm")
        return DDPMSampler(schedule, prediction)
    raise ValueError(f"unknown sampler {name!r}; allowed: {', '.join(SAMPLER_NAMES)}")


__all__ = [
    "DDIM",
    "DDPM",
    "PREDICTION_TYPES",
    "SAMPLER_NAMES",
    "SCHEDULE_KINDS",
    "DDIMSampler",
    "DDPMSampler",
    "NoiseSchedule",
    "Sampler",
    "make_sampler",
    "reverse_process",
    "select_timesteps",
]
