"""The scheduler contract for both samplers, and each update against its closed form."""

import math

import numpy as np
import pytest
import torch

from ldseg.diffusion import (
    DDIMSampler,
    DDPMSampler,
    NoiseSchedule,
    make_sampler,
    reverse_process,
    select_timesteps,
)
from ldseg.diffusion import ddpm as ddpm_module

T = 1000
SCHEDULE = NoiseSchedule(T, "cosine")


def make(name: str, eta: float = 0.0) -> DDIMSampler | DDPMSampler:
    return make_sampler(name, SCHEDULE, eta=eta)


def abar(t: int) -> float:
    """abar from the stored table, read independently of the sampler (abar_0 = 1)."""
    return 1.0 if t == 0 else float(SCHEDULE.alphas_cumprod[t - 1])


def oracle_eps(z_t: torch.Tensor, z0: torch.Tensor, t: int) -> torch.Tensor:
    """The noise that explains z_t exactly given the true z0."""
    return (z_t - math.sqrt(abar(t)) * z0) / math.sqrt(1 - abar(t))


# ---------------------------------------------------------------- contract, both samplers


@pytest.mark.parametrize("name", ["ddim", "ddpm"])
@pytest.mark.parametrize("num_steps", [1, 2, 3, 10, 1000])
def test_timesteps_evenly_spaced_descending(name: str, num_steps: int) -> None:
    sampler = make(name)
    sampler.set_timesteps(num_steps)
    if num_steps == 1:
        expected = [T]
    else:
        expected = np.round(np.linspace(1, T, num_steps)).astype(int)[::-1].tolist()
    assert sampler.timesteps.dtype == torch.long
    assert sampler.timesteps.tolist() == expected
    assert expected[0] == T and expected[-1] == (T if num_steps == 1 else 1)
    chain = [*expected[1:], 0]
    assert [sampler.prev_timestep(t) for t in expected] == chain


@pytest.mark.parametrize("name", ["ddim", "ddpm"])
def test_known_timesteps(name: str) -> None:
    sampler = make(name)
    sampler.set_timesteps(2)
    assert sampler.timesteps.tolist() == [1000, 1]
    assert sampler.prev_timestep(1000) == 1 and sampler.prev_timestep(1) == 0
    sampler.set_timesteps(3)
    assert sampler.timesteps.tolist() == [1000, 500, 1]
    sampler.set_timesteps(T)
    assert sampler.timesteps.tolist() == list(range(T, 0, -1))
    assert sampler.prev_timestep(7) == 6


@pytest.mark.parametrize("name", ["ddim", "ddpm"])
def test_contract_errors(name: str) -> None:
    sampler = make(name)
    z = torch.zeros(1, 1, 2, 2)
    with pytest.raises(ValueError, match="set_timesteps"):
        sampler.step(z, T, z)
    with pytest.raises(ValueError, match="set_timesteps"):
        sampler.prev_timestep(T)
    for bad in (0, -1, T + 1):
        with pytest.raises(ValueError, match=r"1\.\.1000"):
            sampler.set_timesteps(bad)
    sampler.set_timesteps(2)
    with pytest.raises(ValueError, match="not one of the chosen"):
        sampler.step(z, 500, z)
    with pytest.raises(ValueError, match="not one of the chosen"):
        sampler.prev_timestep(0)
    with pytest.raises(ValueError, match="shapes differ"):
        sampler.step(z[..., :1], T, z)


@pytest.mark.parametrize("name,eta", [("ddim", 0.0), ("ddim", 1.0), ("ddpm", 0.0)])
@pytest.mark.parametrize("num_steps", [1, 2, 10])
def test_perfect_eps_oracle_recovers_z0(name: str, eta: float, num_steps: int) -> None:
    """With the true noise, every sampler ends on x0 = z0 at t = 0, whatever the noise drawn."""
    generator = torch.Generator().manual_seed(1)
    z0 = torch.randn(2, 1, 4, 6, generator=generator, dtype=torch.float64)
    z = SCHEDULE.add_noise(z0, torch.randn_like(z0), T)
    sampler = make(name, eta)
    sampler.set_timesteps(num_steps)
    for t in sampler.timesteps.tolist():
        z = sampler.step(oracle_eps(z, z0, t), t, z, generator=generator)
    torch.testing.assert_close(z, z0, rtol=1e-9, atol=1e-9)


def test_make_sampler() -> None:
    assert isinstance(make_sampler("ddim", SCHEDULE), DDIMSampler)
    assert make_sampler("ddim", SCHEDULE, eta=0.5).eta == 0.5
    assert isinstance(make_sampler("ddpm", SCHEDULE), DDPMSampler)
    with pytest.raises(ValueError, match="ddim, ddpm"):
        make_sampler("pndm", SCHEDULE)
    with pytest.raises(ValueError, match="ddim sampler only"):
        make_sampler("ddpm", SCHEDULE, eta=1.0)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        DDIMSampler(SCHEDULE, eta=-0.1)
    assert select_timesteps(2, 50).tolist() == [50, 1]


# ---------------------------------------------------------------- DDIM closed form


def ddim_closed_form(eps, t, prev, z_t, eta, noise):
    a_t, a_p = abar(t), abar(prev)
    x0 = (z_t - np.sqrt(1 - a_t) * eps) / np.sqrt(a_t)
    sigma = eta * np.sqrt((1 - a_p) / (1 - a_t)) * np.sqrt(1 - a_t / a_p)
    return np.sqrt(a_p) * x0 + np.sqrt(1 - a_p - sigma**2) * eps + sigma * noise


@pytest.mark.parametrize("eta", [0.0, 1.0])
def test_ddim_step_matches_closed_form(eta: float) -> None:
    generator = torch.Generator().manual_seed(0)
    z_t = torch.randn(2, 1, 5, 5, generator=generator, dtype=torch.float64)
    eps = torch.randn(2, 1, 5, 5, generator=generator, dtype=torch.float64)
    sampler = DDIMSampler(SCHEDULE, eta=eta)
    sampler.set_timesteps(3)  # [1000, 500, 1]: steps to 500, to 1 and to 0
    for t, prev in [(1000, 500), (500, 1), (1, 0)]:
        noise = torch.randn(z_t.shape, generator=torch.Generator().manual_seed(7), dtype=z_t.dtype)
        out = sampler.step(eps, t, z_t, generator=torch.Generator().manual_seed(7))
        expected = ddim_closed_form(eps.numpy(), t, prev, z_t.numpy(), eta, noise.numpy())
        np.testing.assert_allclose(out.numpy(), expected, rtol=1e-10, atol=1e-10)
    # the step to 500 must use abar_500, not abar at t - T // K
    eta0 = DDIMSampler(SCHEDULE)
    eta0.set_timesteps(3)
    wrong = ddim_closed_form(eps.numpy(), 1000, 667, z_t.numpy(), 0.0, 0.0)
    assert not np.allclose(eta0.step(eps, 1000, z_t).numpy(), wrong)


def test_ddim_eta_zero_is_deterministic_and_eta_one_uses_generator() -> None:
    z_t = torch.randn(1, 1, 4, 4)
    eps = torch.randn(1, 1, 4, 4)
    deterministic = DDIMSampler(SCHEDULE)
    deterministic.set_timesteps(2)
    assert torch.equal(deterministic.step(eps, T, z_t), deterministic.step(eps, T, z_t))
    stochastic = DDIMSampler(SCHEDULE, eta=1.0)
    stochastic.set_timesteps(2)
    first = stochastic.step(eps, T, z_t, generator=torch.Generator().manual_seed(3))
    same = stochastic.step(eps, T, z_t, generator=torch.Generator().manual_seed(3))
    other = stochastic.step(eps, T, z_t, generator=torch.Generator().manual_seed(4))
    assert torch.equal(first, same) and not torch.equal(first, other)
    assert first.dtype == torch.float32


# ---------------------------------------------------------------- DDPM closed form


def ddpm_posterior(eps, t, prev, z_t):
    a_t, a_p = abar(t), abar(prev)
    beta = 1 - a_t / a_p
    x0 = (z_t - np.sqrt(1 - a_t) * eps) / np.sqrt(a_t)
    mean = np.sqrt(a_p) * beta / (1 - a_t) * x0 + np.sqrt(1 - beta) * (1 - a_p) / (1 - a_t) * z_t
    return mean, beta * (1 - a_p) / (1 - a_t)


@pytest.mark.parametrize("fill", [0.0, 1.0])
def test_ddpm_step_exact_with_mocked_noise(monkeypatch: pytest.MonkeyPatch, fill: float) -> None:
    monkeypatch.setattr(
        ddpm_module, "gaussian_noise", lambda like, generator: torch.full_like(like, fill)
    )
    generator = torch.Generator().manual_seed(0)
    z_t = torch.randn(2, 1, 3, 3, 3, generator=generator, dtype=torch.float64)
    eps = torch.randn(2, 1, 3, 3, 3, generator=generator, dtype=torch.float64)
    sampler = DDPMSampler(SCHEDULE)
    sampler.set_timesteps(10)
    for t in sampler.timesteps.tolist():
        prev = sampler.prev_timestep(t)
        mean, variance = ddpm_posterior(eps.numpy(), t, prev, z_t.numpy())
        expected = mean + (fill * np.sqrt(variance) if prev > 0 else 0.0)
        out = sampler.step(eps, t, z_t)
        np.testing.assert_allclose(out.numpy(), expected, rtol=1e-10, atol=1e-10)
    assert variance == 0.0  # the last step (to t = 0) is the noiseless x0


@pytest.mark.parametrize("t,prev", [(1000, 500), (500, 1)])
def test_ddpm_step_empirical_mean_and_variance(t: int, prev: int) -> None:
    n = 200_000
    z_t = torch.full((n,), 0.7, dtype=torch.float64)
    eps = torch.full((n,), -0.3, dtype=torch.float64)
    sampler = DDPMSampler(SCHEDULE)
    sampler.set_timesteps(3)
    samples = sampler.step(eps, t, z_t, generator=torch.Generator().manual_seed(0)).numpy()
    mean, variance = ddpm_posterior(-0.3, t, prev, 0.7)
    stderr = math.sqrt(variance / n)
    assert abs(samples.mean() - mean) < 5 * stderr
    assert samples.var() == pytest.approx(variance, rel=0.02)


def test_ddpm_with_all_steps_is_ho_et_al() -> None:
    """K = T: variance = beta_t (1 - abar_{t-1}) / (1 - abar_t), mean per Ho et al. eq. 7."""
    betas = SCHEDULE.betas.double().numpy()
    sampler = DDPMSampler(SCHEDULE)
    sampler.set_timesteps(T)
    z_t = torch.tensor([0.3], dtype=torch.float64)
    eps = torch.tensor([-1.2], dtype=torch.float64)
    for t in [1000, 999, 600, 100, 2]:
        assert sampler.prev_timestep(t) == t - 1
        beta, a_t, a_p = betas[t - 1], abar(t), abar(t - 1)
        x0 = (0.3 + 1.2 * math.sqrt(1 - a_t)) / math.sqrt(a_t)
        mean = (
            math.sqrt(a_p) * beta / (1 - a_t) * x0
            + math.sqrt(1 - beta) * (1 - a_p) / (1 - a_t) * 0.3
        )
        # Ho et al. eq. 11, the same mean written with eps
        mean_eps = (0.3 - beta / math.sqrt(1 - a_t) * -1.2) / math.sqrt(1 - beta)
        assert mean == pytest.approx(mean_eps, rel=1e-3, abs=1e-5)
        variance = beta * (1 - a_p) / (1 - a_t)
        draws = [
            float(sampler.step(eps, t, z_t, generator=torch.Generator().manual_seed(s)))
            for s in range(2)
        ]
        for seed, draw in enumerate(draws):
            noise = float(
                torch.randn(1, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
            )
            assert draw == pytest.approx(mean + math.sqrt(variance) * noise, rel=2e-3, abs=1e-5)


@pytest.mark.parametrize("name,eta", [("ddim", 0.0), ("ddpm", 0.0)])
def test_noiseless_steps_leave_the_generator_untouched(name: str, eta: float) -> None:
    """DDIM with eta = 0 never draws noise, DDPM not on its last step (to t = 0)."""
    sampler = make(name, eta)
    sampler.set_timesteps(2)
    generator = torch.Generator().manual_seed(0)
    state = generator.get_state()
    z = torch.randn(1, 1, 3, 3)
    sampler.step(z, 1, z, generator=generator)
    assert torch.equal(generator.get_state(), state)
    sampler.step(z, T, z, generator=generator)
    assert torch.equal(generator.get_state(), state) == (name == "ddim")


@pytest.mark.parametrize("prediction", ["v", "x0"])
@pytest.mark.parametrize("name", ["ddim", "ddpm"])
def test_perfect_oracle_of_every_prediction_type_recovers_z0(name: str, prediction: str) -> None:
    """A denoiser that outputs the exact v (or x0) leads both samplers to z0, as eps does."""
    generator = torch.Generator().manual_seed(2)
    z0 = torch.randn(2, 1, 4, 6, generator=generator, dtype=torch.float64)
    z = SCHEDULE.add_noise(z0, torch.randn_like(z0), T)
    sampler = make_sampler(name, SCHEDULE, prediction=prediction)
    sampler.set_timesteps(3)
    for t in sampler.timesteps.tolist():
        eps = oracle_eps(z, z0, t)
        a = abar(t)
        output = math.sqrt(a) * eps - math.sqrt(1 - a) * z0 if prediction == "v" else z0
        x0, eps_back = sampler.x0_and_eps(output, t, z)
        torch.testing.assert_close(x0, z0, rtol=1e-7, atol=1e-7)
        torch.testing.assert_close(eps_back, eps, rtol=1e-6, atol=1e-6)
        z = sampler.step(output, t, z, generator=generator)
    torch.testing.assert_close(z, z0, rtol=1e-7, atol=1e-7)


def test_unknown_prediction_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown prediction 'score'"):
        make_sampler("ddim", SCHEDULE, prediction="score")


def test_reverse_process_steps_every_timestep_and_is_differentiable() -> None:
    sampler = make("ddim")
    sampler.set_timesteps(3)
    seen, scale = [], torch.tensor(0.5, requires_grad=True)

    def denoise(z_t, t):
        seen.append(t.tolist())
        return scale * z_t

    trajectory = []
    z = reverse_process(
        denoise, torch.ones(2, 1, 2, 2), sampler, after_step=lambda z: z * 2, trajectory=trajectory
    )
    assert seen == [[1000, 1000], [500, 500], [1, 1]] and len(trajectory) == 3
    expected = torch.ones(2, 1, 2, 2)
    for t in (1000, 500, 1):
        expected = sampler.step(0.5 * expected, t, expected) * 2
    torch.testing.assert_close(z, expected)
    z.sum().backward()
    assert scale.grad is not None and scale.grad != 0


def test_a_sampler_says_whether_its_steps_draw_noise():
    """Pipelines batch sliding windows only for samplers whose steps draw none."""
    assert not DDIMSampler(SCHEDULE).stochastic
    assert DDIMSampler(SCHEDULE, eta=0.5).stochastic and DDPMSampler(SCHEDULE).stochastic
