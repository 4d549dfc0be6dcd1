"""Baselines and ablations: shapes, which parameters exist, and the two-stage freeze."""

import pytest
import torch

from ldseg.models import (
    MODEL_NAMES,
    DownsampledImageEncoder,
    DownsampledLabelEncoder,
    TwoStageLDSeg,
    build_model,
)
from tests.helpers import tiny_config


def config_for(name, size=(32, 32)):
    config = tiny_config(size=size)
    config.model.name = name
    config.model.in_channels = 1
    if len(size) == 3:
        config.model.latent_factor = [16, 16, 4]
    return config


@pytest.mark.parametrize("name", MODEL_NAMES)
@pytest.mark.parametrize("size", [(32, 32), (32, 32, 8)])
def test_every_model_trains_a_step_and_samples(name, size):
    torch.manual_seed(0)
    model = build_model(config_for(name, size))
    image, mask = torch.rand(2, 1, *size), torch.randint(0, 3, (2, 1, *size))
    loss = model(image, mask)
    assert torch.isfinite(loss.total)
    loss.total.backward()
    sampler = model.make_sampler("ddim", 2)  # None for the deterministic models
    model.eval()
    probs = model.sample(image, sampler, torch.Generator().manual_seed(0))
    assert probs.shape == (2, 3, *size)
    torch.testing.assert_close(probs.sum(1), torch.ones(2, *size), atol=1e-4, rtol=0)


def test_ablations_remove_the_learned_encoders():
    full = build_model(config_for("ldseg"))
    ld = build_model(config_for("ldseg-ld"))
    id_ = build_model(config_for("ldseg-id"))
    both = build_model(config_for("ldseg-ld-id"))
    assert any(True for _ in full.label_encoder.parameters())
    assert isinstance(ld.label_encoder, DownsampledLabelEncoder)
    assert not list(ld.label_encoder.parameters()) and list(ld.image_encoder.parameters())
    assert isinstance(id_.image_encoder, DownsampledImageEncoder)
    assert not list(id_.image_encoder.parameters()) and list(id_.label_encoder.parameters())
    assert not list(both.label_encoder.parameters()) and not list(both.image_encoder.parameters())
    names = {k.split(".")[0] for k, _ in both.named_parameters()}
    assert names == {"denoiser", "label_decoder"}


def test_downsampled_label_latent_follows_the_mask():
    mask = torch.zeros(1, 1, 32, 32, dtype=torch.long)
    mask[..., :16, :] = 2
    z = DownsampledLabelEncoder(3, (16, 16))(mask)
    assert z.shape == (1, 1, 2, 2)
    assert z[0, 0, 0, 0] > z[0, 0, 1, 0]


def test_two_stage_freezes_the_autoencoder_in_stage_two():
    torch.manual_seed(0)
    model = build_model(config_for("two-stage"))
    assert isinstance(model, TwoStageLDSeg) and model.stage == "autoencoder"
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    image, mask = torch.rand(4, 1, 32, 32), torch.randint(0, 3, (4, 1, 32, 32))
    model.train()
    loss = model(image, mask)
    loss.total.backward()
    assert model.denoiser.out.weight.grad is None  # stage 1 trains the autoencoder only
    model.set_stage("diffusion")
    frozen = {
        k: v.clone()
        for k, v in model.state_dict().items()
        if k.startswith(("label_encoder.", "label_decoder."))
    }
    for _ in range(3):
        optimizer.zero_grad(set_to_none=True)
        model(image, mask).total.backward()
        optimizer.step()
    for key, value in model.state_dict().items():
        if key in frozen:
            torch.testing.assert_close(value, frozen[key], msg=key)
    assert model.denoiser.out.weight.abs().sum() > 0  # the denoiser did learn
    loss = model(image, mask)
    assert loss.ce == 0 and loss.noise_mse > 0
