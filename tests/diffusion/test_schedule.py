"""NoiseSchedule against closed forms computed independently in numpy."""

import math

import numpy as np
import pytest
import torch

from ldseg.diffusion import NoiseSchedule

T = 1000


def numpy_cosine_abar(num_steps: int, s: float = 0.008) -> np.ndarray:
    """Nichol & Dhariwal (2021), eq. 17, with betas clipped at 0.999 (eq. after 17)."""
    t = np.arange(num_steps + 1, dtype=np.float64)
    f = np.cos((t / num_steps + s) / (1 + s) * np.pi / 2) ** 2
    betas = np.minimum(1 - f[1:] / f[:-1], 0.999)
    return np.cumprod(1 - betas)


@pytest.mark.parametrize("kind", ["cosine", "linear", "quadratic"])
def test_abar_is_float32_monotone_in_unit_interval_and_one_at_zero(kind: str) -> None:
    schedule = NoiseSchedule(T, kind)
    abar = schedule.alphas_cumprod
    assert abar.dtype == schedule.betas.dtype == torch.float32
    assert abar.shape == (T,)
    assert bool((abar[1:] < abar[:-1]).all())
    assert 0 < float(abar[-1]) < float(abar[0]) < 1
    assert float(schedule.abar(0)) == 1.0
    assert float(schedule.abar(torch.tensor(T))) == float(abar[-1])
    assert float(abar[-1]) < 1e-2  # close to pure noise at t = T


def test_cosine_matches_nichol_dhariwal_formula() -> None:
    schedule = NoiseSchedule(T, "cosine")
    expected = numpy_cosine_abar(T)
    np.testing.assert_allclose(schedule.alphas_cumprod.numpy(), expected, rtol=1e-5, atol=1e-10)
    # Away from the clipped end abar_t is exactly f(t) / f(0).
    t = np.array([1, 10, 250, 500, 900])
    f = lambda x: np.cos((x / T + 0.008) / 1.008 * np.pi / 2) ** 2  # noqa: E731
    np.testing.assert_allclose(schedule.abar(torch.tensor(t)).numpy(), f(t) / f(0), rtol=1e-5)
    assert float(schedule.betas[-1]) == pytest.approx(0.999)


def test_linear_and_quadratic_betas() -> None:
    linear = NoiseSchedule(T, "linear")
    assert float(linear.betas[0]) == pytest.approx(1e-4)
    assert float(linear.betas[-1]) == pytest.approx(0.02)
    np.testing.assert_allclose(np.diff(linear.betas.numpy()), (0.02 - 1e-4) / (T - 1), rtol=1e-3)
    np.testing.assert_allclose(
        linear.alphas_cumprod.numpy(), np.cumprod(1 - np.linspace(1e-4, 0.02, T)), rtol=1e-5
    )
    quadratic = NoiseSchedule(T, "quadratic")
    expected = np.linspace(math.sqrt(1e-4), math.sqrt(0.02), T) ** 2
    np.testing.assert_allclose(quadratic.betas.numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(quadratic.alphas.numpy(), 1 - expected, rtol=1e-6)


@pytest.mark.parametrize("shape", [(3, 2, 8, 8), (3, 1, 4, 6, 5)])
def test_add_noise_and_predict_x0_closed_form_per_sample(shape: tuple[int, ...]) -> None:
    schedule = NoiseSchedule(T, "cosine")
    generator = torch.Generator().manual_seed(0)
    z0 = torch.randn(shape, generator=generator, dtype=torch.float64)
    noise = torch.randn(shape, generator=generator, dtype=torch.float64)
    t = torch.tensor([1, 500, 1000])
    z_t = schedule.add_noise(z0, noise, t)
    abar = numpy_cosine_abar(T)[t.numpy() - 1]
    for i in range(shape[0]):
        expected = math.sqrt(abar[i]) * z0[i].numpy() + math.sqrt(1 - abar[i]) * noise[i].numpy()
        # float32 storage of abar_1 ~ 1 - 4e-5 limits sqrt(1 - abar_1) to ~1e-3 relative
        np.testing.assert_allclose(z_t[i].numpy(), expected, rtol=1e-4, atol=3e-5)
    assert z_t.dtype == torch.float64
    torch.testing.assert_close(schedule.predict_x0(z_t, noise, t), z0)
    # float32 inputs stay float32; a scalar t applies to every sample
    z32 = schedule.add_noise(z0.float(), noise.float(), 500)
    assert z32.dtype == torch.float32
    torch.testing.assert_close(z32[1], z_t[1].float())


def test_sample_timesteps_uniform_over_one_to_T() -> None:
    schedule = NoiseSchedule(10, "linear")
    t = schedule.sample_timesteps(20000, generator=torch.Generator().manual_seed(0))
    assert t.dtype == torch.long and t.shape == (20000,)
    assert int(t.min()) == 1 and int(t.max()) == 10
    counts = torch.bincount(t, minlength=11)[1:].double()
    assert float(counts.min()) > 1800 and float(counts.max()) < 2200
    again = schedule.sample_timesteps(20000, generator=torch.Generator().manual_seed(0))
    assert torch.equal(t, again)


def test_training_noise_per_sample_generators_ignore_the_batch() -> None:
    schedule = NoiseSchedule(T)
    like = torch.zeros(4, 2, 3, 3)

    def generators(seeds):
        return [torch.Generator().manual_seed(s) for s in seeds]

    t, noise = schedule.training_noise(like, generators([10, 11, 12, 13]))
    assert t.shape == (4,) and noise.shape == like.shape
    t_half, noise_half = schedule.training_noise(like[:2], generators([12, 13]))
    assert torch.equal(t[2:], t_half) and torch.equal(noise[2:], noise_half)
    assert not torch.equal(noise[0], noise[1])
    one = torch.Generator().manual_seed(10)  # one generator: the batch draws in order
    t_one = schedule.sample_timesteps(4, torch.Generator().manual_seed(10))
    assert torch.equal(schedule.training_noise(like, one)[0], t_one)
    with pytest.raises(ValueError, match="3 generators for a batch of 4"):
        schedule.training_noise(like, generators([1, 2, 3]))


def test_training_noise_share_puts_samples_at_the_focus_timesteps() -> None:
    schedule = NoiseSchedule(T)
    like = torch.zeros(4000, 1, 1, 1)
    plain, _ = schedule.training_noise(like, torch.Generator().manual_seed(0))
    none, _ = schedule.training_noise(like, torch.Generator().manual_seed(0), [T, 1], 0.0)
    assert torch.equal(plain, none)  # share 0 keeps the paper's draws exactly
    t, _ = schedule.training_noise(like, torch.Generator().manual_seed(0), [T, 1], 1.0)
    assert set(t.tolist()) == {T, 1} and abs(float((t == T).double().mean()) - 0.5) < 0.03
    t, _ = schedule.training_noise(like, torch.Generator().manual_seed(0), [T, 1], 0.5)
    at_focus = float(((t == T) | (t == 1)).double().mean())
    assert abs(at_focus - (0.5 + 0.5 * 2 / T)) < 0.03
    with pytest.raises(ValueError, match="focus"):
        schedule.training_noise(like, None, [], 0.5)


@pytest.mark.parametrize("prediction", ["eps", "v", "x0"])
def test_prediction_target_and_split_are_inverse(prediction: str) -> None:
    schedule = NoiseSchedule(T)
    generator = torch.Generator().manual_seed(0)
    z0 = torch.randn(3, 1, 4, 4, generator=generator, dtype=torch.float64)
    noise = torch.randn(3, 1, 4, 4, generator=generator, dtype=torch.float64)
    t = torch.tensor([1, 500, T])
    z_t = schedule.add_noise(z0, noise, t)
    target = schedule.prediction_target(z0, noise, t, prediction)
    x0, eps = schedule.split_prediction(target, z_t, t, prediction)
    tolerance = 1e-6 if prediction != "eps" else 1e-3  # eps -> x0 divides by sqrt(abar_T)
    torch.testing.assert_close(x0, z0, rtol=tolerance, atol=tolerance)
    torch.testing.assert_close(eps, noise, rtol=1e-6, atol=1e-6)
    if prediction == "v":  # Salimans & Ho (2022): v = sqrt(abar) eps - sqrt(1 - abar) x0
        abar = schedule.abar(t).double().view(-1, 1, 1, 1)
        torch.testing.assert_close(target, abar.sqrt() * noise - (1 - abar).sqrt() * z0)


def test_errors_are_loud() -> None:
    with pytest.raises(ValueError, match="cosine, linear, quadratic"):
        NoiseSchedule(T, "sigmoid")
    for bad in (0, -5, 2.5):
        with pytest.raises(ValueError, match=">= 1"):
            NoiseSchedule(bad)  # type: ignore[arg-type]
    schedule = NoiseSchedule(T)
    with pytest.raises(ValueError, match=r"0\.\.1000"):
        schedule.abar(torch.tensor([1001]))
    with pytest.raises(ValueError, match=r"0\.\.1000"):
        schedule.abar(-1)
    with pytest.raises(ValueError, match="integers"):
        schedule.abar(torch.tensor([0.5]))
    z = torch.zeros(2, 1, 4, 4)
    with pytest.raises(ValueError, match="shape"):
        schedule.add_noise(z, z, torch.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match="shapes differ"):
        schedule.add_noise(z, z[:1], torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="batch"):
        schedule.sample_timesteps(0)
