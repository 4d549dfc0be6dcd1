"""The registry and the one model interface: every name builds a Segmenter whose interface
(EMA target, samplers, initial noise, decoding, training stages) says what it is."""

import pytest
import torch

from ldseg.models import MODEL_NAMES, MODELS, Segmenter, as_built, build_model
from tests.helpers import tiny_config

DIFFUSION = {"ldseg", "ldseg-ld", "ldseg-id", "ldseg-ld-id", "pixel-diffusion", "two-stage"}


def config_for(name: str):
    config = tiny_config()
    config.model.name, config.model.in_channels = name, 1
    return config


def test_model_names_are_the_registry():
    assert tuple(MODELS) == MODEL_NAMES and set(MODEL_NAMES) >= DIFFUSION | {"resunet", "unet"}
    with pytest.raises(ValueError, match="unknown model 'mystery'; choose one of ldseg, "):
        build_model(config_for("mystery"))


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_model_has_the_interface(name):
    torch.manual_seed(0)
    model = build_model(config_for(name)).eval()
    assert isinstance(model, Segmenter) and model.num_classes == 3 and model.spatial_dims == 2
    if model.ema_target is not None:
        assert isinstance(model.get_submodule(model.ema_target), torch.nn.Module)
    image = torch.rand(2, 1, 32, 32)
    sampler = model.make_sampler("ddim", 2)
    shape = model.noise_shape((32, 32))
    assert (sampler is None) == (shape is None) == (name not in DIFFUSION)
    if sampler is None:
        assert model.ema_target is None and model.exportable
        with pytest.raises(ValueError, match="no reverse process"):
            model.decode([image], image)
        return
    # The noise the model draws from a generator is (B, *noise_shape): given explicitly, the
    # same noise gives the same probabilities, and the last state decodes to them.
    noise = torch.randn((2, *shape), generator=torch.Generator().manual_seed(3))
    states = []
    drawn = model.sample(image, sampler, torch.Generator().manual_seed(3))
    given = model.sample(image, sampler, noise=noise, trajectory=states)
    torch.testing.assert_close(drawn, given)
    assert len(states) == 2 and states[0].shape == noise.shape
    torch.testing.assert_close(model.decode(states, image)[-1], given)
    assert model.exportable == (name != "pixel-diffusion")


def test_only_the_two_stage_model_changes_what_trains():
    ldseg, two_stage = build_model(config_for("ldseg")), build_model(config_for("two-stage"))
    assert not any(ldseg.begin_epoch(epoch, 4) for epoch in range(1, 5))
    assert not ldseg.unused_parameters
    changes = [two_stage.begin_epoch(epoch, 4) for epoch in range(1, 5)]
    assert changes == [False, False, True, False] and two_stage.stage == "diffusion"
    assert not two_stage.unused_parameters
    two_stage.begin_epoch(1, 4)
    assert two_stage.stage == "autoencoder" and two_stage.unused_parameters


def test_every_ldseg_config_lever_reaches_the_model():
    config = config_for("ldseg")
    m = config.model
    m.prediction, m.decoder_input, m.timestep_share, m.sampling_path_share = "v", "x0", 0.3, 0.7
    m.gamma, m.lam, m.dropout, m.image_latent_channels = 1.5, 0.5, 0.0, 3
    m.label_latent_channels = 2
    config.sampling.steps = 3
    model = build_model(config)
    assert model.image_encoder.out.out_channels == 3 and model.denoiser.inp.in_channels == 5
    assert model.label_encoder.out.out_channels == 2 and model.label_decoder.inp.in_channels == 2
    assert (model.prediction, model.decoder_input) == ("v", "x0")
    assert (model.timestep_share, model.sampling_path_share) == (0.3, 0.7)
    assert (model.gamma, model.lam) == (1.5, 0.5)
    assert model.focus_timesteps == [1000, 500, 1] and model.make_sampler().prediction == "v"
    assert all(not isinstance(x, torch.nn.Dropout) or x.p == 0 for x in model.modules())
    config.model.name = "ldseg-id"  # the downsampled image is the one-channel condition
    assert build_model(config).denoiser.inp.in_channels == 3
    config.model.name = "ldseg-ld"  # the downsampled mask is the one-channel shape latent
    assert build_model(config).denoiser.inp.in_channels == 4
    assert as_built(config).model.label_latent_channels == 1
