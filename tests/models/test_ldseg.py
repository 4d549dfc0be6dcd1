"""LDSeg end to end: the loss of Algorithm 1 and sampling of Algorithm 2."""

import pytest
import torch
import torch.nn.functional as F

from ldseg.diffusion import DDIMSampler, NoiseSchedule
from ldseg.models import LDSeg

SMALL = {
    "channels": (4, 8, 8, 8, 4),
    "denoiser_channels": (8, 16),
    "denoiser_attention": (False, True),
}


def small_model(spatial_dims=2, num_classes=3, **kwargs) -> LDSeg:
    torch.manual_seed(0)
    return LDSeg(spatial_dims, 1, num_classes, num_heads=2, **(SMALL | kwargs))


def manual_soft_dice_loss(logits, mask, num_classes):
    probs = logits.softmax(1)
    onehot = F.one_hot(mask[:, 0], num_classes).movedim(-1, 1).float()
    dims = tuple(range(2, probs.ndim))
    inter = (probs * onehot).sum(dims)
    denom = probs.sum(dims) + onehot.sum(dims)
    return (1 - (2 * inter + 1e-5) / (denom + 1e-5)).mean()


@pytest.mark.parametrize(
    ("decoder_input", "architecture"),
    [
        ("z_minus_eps", {}),
        ("x0", {}),
        ("x0", {"decoder_image_skips": True}),
        ("x0", {"decoder_image_skips": True, "stem_stride": 2}),
        ("x0", {"decoder_image_skips": True, "stem_stride": 2, "decoder_image_head": True}),
    ],
)
def test_loss_terms_match_algorithm_1(decoder_input, architecture):
    model = small_model(gamma=2.0, lam=1.0, decoder_input=decoder_input, **architecture).eval()
    image = torch.rand(2, 1, 32, 32)
    mask = torch.randint(0, 3, (2, 1, 32, 32))
    loss = model(image, mask, generator=torch.Generator().manual_seed(3))

    # Recompute by hand with the same random draws.
    gen = torch.Generator().manual_seed(3)
    t = model.schedule.sample_timesteps(2, generator=gen)
    noise = torch.randn((2, 1, 2, 2), generator=gen)
    z0 = model.label_encoder(mask)
    abar = model.schedule.abar(t).view(-1, 1, 1, 1)
    z_t = abar.sqrt() * z0 + (1 - abar).sqrt() * noise
    if decoder_input == "x0":  # 1/sqrt(abar_t) amplifies float32 rounding: use float64 math
        z_t = model.schedule.add_noise(z0, noise, t)
    z_i, stage_outputs = model.image_encoder.features(image)
    eps_hat = model.denoiser(z_t, z_i, t)
    if decoder_input == "z_minus_eps":
        z_dn = z_t - eps_hat
    else:
        x0 = model.schedule.predict_x0(z_t, eps_hat, t)  # float64 inside; tested on its own
        var = x0.var((1, 2, 3), keepdim=True, unbiased=False)
        z_dn = (x0 - x0.mean((1, 2, 3), keepdim=True)) / (var + 1e-5).sqrt()
    skips = stage_outputs if architecture.get("decoder_image_skips") else None
    if architecture.get("decoder_image_head"):
        skips = [image, *stage_outputs]
    logits = model.label_decoder(z_dn, skips)
    ce = F.cross_entropy(logits, mask[:, 0])
    dice = manual_soft_dice_loss(logits, mask, 3)
    mse = ((eps_hat - noise) ** 2).mean()
    torch.testing.assert_close(loss.ce, ce)
    torch.testing.assert_close(loss.dice, dice)
    torch.testing.assert_close(loss.noise_mse, mse)
    torch.testing.assert_close(loss.total, ce + 2 * dice + mse)


def test_loss_weights_apply():
    image, mask = torch.rand(2, 1, 32, 32), torch.randint(0, 3, (2, 1, 32, 32))
    loss = small_model(gamma=0.5, lam=3.0).eval()(image, mask, torch.Generator().manual_seed(0))
    torch.testing.assert_close(loss.total, loss.ce + 0.5 * loss.dice + 3.0 * loss.noise_mse)


def test_all_four_networks_get_gradients():
    model = small_model()
    torch.nn.init.normal_(model.denoiser.out.weight, std=0.1)  # zero at init, like DDPM's
    model(torch.rand(2, 1, 32, 32), torch.randint(0, 3, (2, 1, 32, 32))).total.backward()
    for name in ("label_encoder", "image_encoder", "denoiser", "label_decoder"):
        grads = [p.grad for p in getattr(model, name).parameters() if p.requires_grad]
        assert any(g is not None and g.abs().sum() > 0 for g in grads), name


def test_two_step_ddim_calls_denoiser_at_T_and_1():
    model = small_model().eval()
    calls = []
    original = model.denoiser.forward

    def spy(z_t, z_i, t):
        calls.append(t.tolist())
        return original(z_t, z_i, t)

    model.denoiser.forward = spy
    sampler = DDIMSampler(model.schedule)
    sampler.set_timesteps(2)
    probs = model.sample(torch.rand(3, 1, 32, 32), sampler)
    assert calls == [[1000] * 3, [1] * 3]
    assert probs.shape == (3, 3, 32, 32)
    torch.testing.assert_close(probs.sum(1), torch.ones(3, 32, 32))


def test_ddim_sampling_is_deterministic_given_noise_and_3d_works():
    model = small_model(spatial_dims=3, latent_factor=(16, 16, 2)).eval()
    image = torch.rand(1, 1, 32, 16, 4)
    sampler = DDIMSampler(NoiseSchedule())
    sampler.set_timesteps(3)
    trajectory = []
    a = model.sample(
        image, sampler, generator=torch.Generator().manual_seed(1), trajectory=trajectory
    )
    b = model.sample(image, sampler, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(a, b)
    assert a.shape == (1, 3, 32, 16, 4)
    assert len(trajectory) == 3 and trajectory[0].shape == (1, 1, 2, 1, 2)


def test_size_not_divisible_is_refused():
    with pytest.raises(ValueError, match=r"must divide by \(16, 16\)"):
        small_model()(torch.rand(1, 1, 40, 32), torch.zeros(1, 1, 40, 32, dtype=torch.long))


@pytest.mark.parametrize("prediction", ["v", "x0"])
def test_noise_term_is_the_error_on_the_prediction_target(prediction):
    model = small_model(prediction=prediction, decoder_input="x0").eval()
    image, mask = torch.rand(2, 1, 32, 32), torch.randint(0, 3, (2, 1, 32, 32))
    loss = model(image, mask, generator=torch.Generator().manual_seed(3))
    gen = torch.Generator().manual_seed(3)
    t = model.schedule.sample_timesteps(2, generator=gen)
    noise = torch.randn((2, 1, 2, 2), generator=gen)
    z0 = model.label_encoder(mask)
    z_t = model.schedule.add_noise(z0, noise, t)
    output = model.denoiser(z_t, model.image_encoder(image), t)
    abar = model.schedule.abar(t).view(-1, 1, 1, 1)
    target = abar.sqrt() * noise - (1 - abar).sqrt() * z0 if prediction == "v" else z0
    torch.testing.assert_close(loss.noise_mse, ((output - target) ** 2).mean())
    x0 = abar.sqrt() * z_t - (1 - abar).sqrt() * output if prediction == "v" else output
    var = x0.var((1, 2, 3), keepdim=True, unbiased=False)
    logits = model.label_decoder((x0 - x0.mean((1, 2, 3), keepdim=True)) / (var + 1e-5).sqrt())
    torch.testing.assert_close(loss.ce, F.cross_entropy(logits, mask[:, 0]))


def test_timestep_share_one_trains_only_at_the_sampling_timesteps():
    model = small_model(timestep_share=1.0, sampling_steps=2).eval()
    seen = []
    original = model.denoiser.forward
    model.denoiser.forward = lambda z_t, z_i, t: seen.extend(t.tolist()) or original(z_t, z_i, t)
    model(torch.rand(8, 1, 32, 32), torch.randint(0, 3, (8, 1, 32, 32)))
    assert set(seen) <= {1000, 1} and len(seen) == 8


def path_noise(seed: int) -> tuple[bool, torch.Tensor]:
    """A case's path draws, after its timestep and training noise: the share draw, the noise."""
    gen = torch.Generator().manual_seed(seed)
    NoiseSchedule().training_noise(torch.zeros(1, 1, 2, 2), gen)
    u = float(torch.rand(1, generator=gen))
    return u, torch.randn((1, 1, 2, 2), generator=gen)


def test_path_cases_are_segmented_from_the_two_step_sample():
    model = small_model(sampling_path_share=1.0, sampling_steps=2, gamma=2.0).eval()
    torch.nn.init.normal_(model.denoiser.out.weight, std=0.1)
    image, mask = torch.rand(2, 1, 32, 32), torch.randint(0, 3, (2, 1, 32, 32))
    loss = model(image, mask, generator=[torch.Generator().manual_seed(s) for s in (4, 5)])
    noise = torch.cat([path_noise(seed)[1] for seed in (4, 5)])
    with torch.no_grad():
        probs = model.sample(image, model.make_sampler("ddim", 2), noise=noise)
    logits = torch.log(probs)  # softmax(log softmax(x)) == softmax(x)
    ce, dice = F.cross_entropy(logits, mask[:, 0]), manual_soft_dice_loss(logits, mask, 3)
    torch.testing.assert_close(loss.ce, ce, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(loss.dice, dice, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(loss.path, ce + 2.0 * dice, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(loss.total, loss.ce + 2.0 * loss.dice + loss.noise_mse)
    loss.total.backward()  # the path trains the image encoder through both denoiser calls
    assert model.image_encoder.out.weight.grad.abs().sum() > 0


def test_path_share_picks_cases_by_their_own_draws():
    """Which cases take the path depends on each case's generator, not on the batch."""
    model = small_model(sampling_path_share=0.5).eval()
    seeds = list(range(10, 30))
    expected = [i for i, s in enumerate(seeds) if path_noise(s)[0] < 0.5]
    generators = [torch.Generator().manual_seed(s) for s in seeds]
    for g in generators:  # the model draws t and noise before the share draw
        model.schedule.training_noise(torch.zeros(1, 1, 2, 2), g)
    chosen = model._path_cases(generators, torch.zeros(20))
    assert sorted(chosen) == expected and 0 < len(expected) < 20
    assert small_model()._path_cases(generators, torch.zeros(20)) == {}  # share 0: the paper


def test_sampler_of_another_prediction_type_is_refused():
    model = small_model(prediction="v").eval()
    with pytest.raises(ValueError, match=r"build it with model\.make_sampler"):
        model.sample(torch.rand(1, 1, 32, 32), DDIMSampler(model.schedule))


@pytest.mark.parametrize("spatial_dims", [2, 3])
@pytest.mark.parametrize(("image_channels", "label_channels"), [(4, 1), (1, 3)])
def test_image_and_shape_latents_of_several_channels_train_and_sample(
    spatial_dims, image_channels, label_channels
):
    model = small_model(
        spatial_dims,
        image_latent_channels=image_channels,
        label_latent_channels=label_channels,
        sampling_path_share=1.0,
    )
    torch.nn.init.normal_(model.denoiser.out.weight, std=0.1)  # zero at init: no gradient
    size = (32,) * spatial_dims
    grid = tuple(s // 16 for s in size)
    image, mask = torch.rand(2, 1, *size), torch.randint(0, 3, (2, 1, *size))
    assert model.image_encoder(image).shape == (2, image_channels, *grid)
    z0 = model.label_encoder(mask)
    assert z0.shape == (2, label_channels, *grid)
    assert torch.allclose(z0.flatten(1).std(1, unbiased=False), torch.ones(2), atol=1e-3)
    assert model.noise_shape(size) == (label_channels, *grid)
    loss = model(image, mask, generator=[torch.Generator().manual_seed(s) for s in (1, 2)])
    loss.total.backward()  # every channel of z_i and of the shape latent gets a gradient
    for weight in (model.image_encoder.out.weight, model.denoiser.out.weight):
        assert (weight.grad.flatten(1).abs().sum(1) > 0).all()
    assert (model.label_encoder.out.weight.grad.flatten(1).abs().sum(1) > 0).all()
    assert (model.label_decoder.inp.weight.grad.transpose(0, 1).flatten(1).abs().sum(1) > 0).all()
    model.eval()
    noise = torch.randn(2, *model.noise_shape(size))
    probs = model.sample(image, model.make_sampler("ddim", 2), noise=noise)
    assert probs.shape == (2, 3, *size)
    drawn = model.sample(image, model.make_sampler("ddim", 2), torch.Generator().manual_seed(0))
    assert drawn.shape == (2, 3, *size)
    torch.testing.assert_close(drawn.sum(1), torch.ones(2, *size))
