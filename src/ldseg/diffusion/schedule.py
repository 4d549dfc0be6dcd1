"""Forward-diffusion noise schedules (the LDSeg "Gaussian block").

Timesteps are 1-indexed as in Ho et al. (2020): t runs over 1..T, ``alphas_cumprod[t - 1]``
is abar_t, and abar_0 = 1 stands for the clean latent, so a sampler can step to t = 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

SCHEDULE_KINDS = ("cosine", "linear", "quadratic")
PREDICTION_TYPES = (
    "eps",
    "v",
    "x0",
)  # what the denoiser predicts: the noise, v, or the clean latent
Generators = torch.Generator | Sequence[torch.Generator] | None  # one for a batch or one per sample
COSINE_OFFSET = 0.008  # s in Nichol & Dhariwal (2021), eq. 17
MAX_COSINE_BETA = 0.999  # their clipping, to avoid a singularity at t = T
LINEAR_BETA_RANGE = (1e-4, 0.02)  # Ho et al. (2020)


def each_generator(generator: Generators, batch: int) -> list[tuple[int, torch.Generator | None]]:
    """(index, generator) per sample: one generator per sample, or the batch's for each."""
    if generator is None or isinstance(generator, torch.Generator):
        return [(i, generator) for i in range(batch)]
    return list(enumerate(generator))


def _betas(kind: str, num_train_timesteps: int) -> torch.Tensor:
    """beta_1..beta_T in float64."""
    steps = num_train_timesteps
    if kind == "cosine":
        # Nichol & Dhariwal (2021): abar_t = f(t) / f(0), f(t) = cos^2((t/T + s) / (1 + s) * pi/2).
        t = torch.arange(steps + 1, dtype=torch.float64)
        f = torch.cos((t / steps + COSINE_OFFSET) / (1 + COSINE_OFFSET) * math.pi / 2) ** 2
        abar = f / f[0]
        return (1 - abar[1:] / abar[:-1]).clamp(max=MAX_COSINE_BETA)
    low, high = LINEAR_BETA_RANGE
    if kind == "linear":
        return torch.linspace(low, high, steps, dtype=torch.float64)
    if kind == "quadratic":
        return torch.linspace(math.sqrt(low), math.sqrt(high), steps, dtype=torch.float64) ** 2
    raise ValueError(f"unknown noise schedule kind {kind!r}; allowed: {', '.join(SCHEDULE_KINDS)}")


def split_prediction(output, z_t, signal, sigma, prediction: str):
    """(x0, eps) from a denoiser's ``output`` at a noise level with coefficients ``signal`` =
    sqrt(abar_t) and ``sigma`` = sqrt(1 - abar_t) (floats or broadcastable tensors).

    ``"eps"`` predicts the noise (Ho et al. 2020), ``"x0"`` the clean latent, ``"v"`` =
    sqrt(abar_t) eps - sqrt(1 - abar_t) x0 (Salimans & Ho 2022), well scaled at every t.
    """
    if prediction == "eps":
        return (z_t - sigma * output) / signal, output
    if prediction == "v":
        return signal * z_t - sigma * output, sigma * z_t + signal * output
    if prediction == "x0":
        return output, (z_t - signal * output) / sigma
    raise ValueError(f"unknown prediction {prediction!r}; allowed: {', '.join(PREDICTION_TYPES)}")


class NoiseSchedule:
    """betas, alphas and abar for t = 1..T, computed in float64 and stored as float32."""

    def __init__(self, num_train_timesteps: int = 1000, kind: str = "cosine") -> None:
        if (
            isinstance(num_train_timesteps, bool)
            or not isinstance(num_train_timesteps, int)
            or num_train_timesteps < 1
        ):
            raise ValueError(
                f"num_train_timesteps must be an integer >= 1, got {num_train_timesteps!r}"
            )
        betas = _betas(kind, num_train_timesteps)
        self.num_train_timesteps = num_train_timesteps
        self.kind = kind
        self.betas = betas.float()
        self.alphas = (1 - betas).float()
        self.alphas_cumprod = torch.cumprod(1 - betas, dim=0).float()
        self._abar_from_zero = torch.cat([torch.ones(1), self.alphas_cumprod])

    def __repr__(self) -> str:
        return f"NoiseSchedule(num_train_timesteps={self.num_train_timesteps}, kind={self.kind!r})"

    def abar(self, t: torch.Tensor | int) -> torch.Tensor:
        """abar_t for integer t in 0..T (abar_0 = 1), float32, on t's device and of t's shape."""
        t = torch.as_tensor(t)
        if t.dtype.is_floating_point or t.dtype.is_complex or t.dtype == torch.bool:
            raise ValueError(f"timesteps must be integers, got dtype {t.dtype}")
        if t.numel() and (t.min() < 0 or t.max() > self.num_train_timesteps):
            raise ValueError(
                f"timesteps must lie in 0..{self.num_train_timesteps}, "
                f"got values from {int(t.min())} to {int(t.max())}"
            )
        return self._abar_from_zero.to(t.device)[t]

    def _coefficients(
        self, t: torch.Tensor | int, like: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """sqrt(abar_t) and sqrt(1 - abar_t) in ``like``'s dtype, shaped to broadcast over it.

        t is a scalar or of shape (B,) with B = like.shape[0] (one timestep per sample).
        """
        abar = self.abar(t).to(device=like.device, dtype=torch.float64)
        if abar.ndim == 1 and like.ndim > 0 and abar.shape[0] == like.shape[0]:
            abar = abar.reshape(-1, *([1] * (like.ndim - 1)))
        elif abar.ndim != 0:
            raise ValueError(
                f"timesteps must be a scalar or of shape (B,) for a batch of B samples, "
                f"got shape {tuple(abar.shape)} for a tensor of shape {tuple(like.shape)}"
            )
        return abar.sqrt().to(like.dtype), (1 - abar).sqrt().to(like.dtype)

    def add_noise(
        self, z0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor | int
    ) -> torch.Tensor:
        """z_t = sqrt(abar_t) z0 + sqrt(1 - abar_t) noise (Ho et al. 2020, eq. 4)."""
        if z0.shape != noise.shape:
            raise ValueError(
                f"z0 and noise shapes differ: {tuple(z0.shape)} vs {tuple(noise.shape)}"
            )
        signal, sigma = self._coefficients(t, z0)
        return signal * z0 + sigma * noise

    def predict_x0(
        self, z_t: torch.Tensor, eps: torch.Tensor, t: torch.Tensor | int
    ) -> torch.Tensor:
        """Clean-latent estimate x0 = (z_t - sqrt(1 - abar_t) eps) / sqrt(abar_t)."""
        if z_t.shape != eps.shape:
            raise ValueError(f"z_t and eps shapes differ: {tuple(z_t.shape)} vs {tuple(eps.shape)}")
        signal, sigma = self._coefficients(t, z_t)
        return (z_t - sigma * eps) / signal

    def split_prediction(
        self, output: torch.Tensor, z_t: torch.Tensor, t: torch.Tensor | int, prediction: str
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(x0, eps) implied by a denoiser ``output`` of type ``prediction`` at timesteps t."""
        signal, sigma = self._coefficients(t, z_t)
        return split_prediction(output, z_t, signal, sigma, prediction)

    def prediction_target(
        self, z0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor | int, prediction: str
    ) -> torch.Tensor:
        """What a ``prediction``-type denoiser should output for add_noise(z0, noise, t)."""
        if prediction == "eps":
            return noise
        if prediction == "x0":
            return z0
        if prediction == "v":
            signal, sigma = self._coefficients(t, z0)
            return signal * noise - sigma * z0
        raise ValueError(
            f"unknown prediction {prediction!r}; allowed: {', '.join(PREDICTION_TYPES)}"
        )

    def sample_timesteps(
        self,
        batch: int,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> torch.Tensor:
        """Training timesteps t ~ U{1..T}, a LongTensor of shape (batch,)."""
        if batch < 1:
            raise ValueError(f"batch must be >= 1, got {batch}")
        return torch.randint(
            1, self.num_train_timesteps + 1, (batch,), generator=generator, device=device
        )

    def training_noise(
        self,
        like: torch.Tensor,
        generator: Generators = None,
        focus: Sequence[int] = (),
        share: float = 0.0,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Training timesteps and N(0, I) noise shaped like ``like``, for a training batch.

        t ~ U{1..T}, except that with probability ``share`` a sample's t is one of the
        ``focus`` timesteps (uniformly; e.g. the sampler's), where few-step sampling runs.
        ``generator`` is one generator for the batch or one per sample; with one per sample,
        a sample's draws do not depend on the batch or the process it is in.
        """
        if not 0.0 <= share <= 1.0 or (share > 0 and not focus):
            raise ValueError(f"share must lie in [0, 1] and needs focus timesteps, got {share}")
        if generator is None or isinstance(generator, torch.Generator):
            batch, device = like.shape[0], like.device
            t = self.sample_timesteps(batch, generator, device)
            if share > 0:
                at_focus = torch.rand(batch, generator=generator, device=device) < share
                pick = torch.randint(len(focus), (batch,), generator=generator, device=device)
                t = torch.where(at_focus, torch.as_tensor(list(focus), device=device)[pick], t)
            noise = torch.randn(like.shape, generator=generator, device=device, dtype=like.dtype)
            return t, noise
        if len(generator) != like.shape[0]:
            raise ValueError(f"{len(generator)} generators for a batch of {like.shape[0]}")
        draws = [
            self.training_noise(like[i : i + 1], g, focus, share) for i, g in enumerate(generator)
        ]
        return torch.cat([t for t, _ in draws]), torch.cat([noise for _, noise in draws])


def select_timesteps(num_steps: int, num_train_timesteps: int) -> torch.Tensor:
    """The K sampling timesteps, descending: round(linspace(1, T, K)), and [T] when K = 1.

    LDSeg's Algorithm 2 spacing (reference code: linspace(0, T - 1, K), 0-indexed); K = 2 gives
    [T, 1]. Ties round half to even, as numpy and torch do.
    """
    if (
        isinstance(num_steps, bool)
        or not isinstance(num_steps, int)
        or not 1 <= num_steps <= num_train_timesteps
    ):
        raise ValueError(
            f"number of sampling steps must be an integer in 1..{num_train_timesteps}, "
            f"got {num_steps!r}"
        )
    if num_steps == 1:
        return torch.tensor([num_train_timesteps], dtype=torch.long)
    grid = torch.linspace(1, num_train_timesteps, num_steps, dtype=torch.float64)
    timesteps = grid.round().long().flip(0)
    if timesteps.unique().numel() != num_steps:
        raise ValueError(f"repeated sampling timesteps: {timesteps.tolist()}")
    return timesteps
