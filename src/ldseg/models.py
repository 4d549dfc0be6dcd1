"""Every model ``ldseg train --model NAME`` can train, built from a run configuration."""

from __future__ import annotations

from monai.networks.nets import UNet
from torch import nn

from ldseg.baselines import (
    DeterministicSegmenter,
    DownsampledImageEncoder,
    DownsampledLabelEncoder,
    PixelDiffusion,
    ResUNet,
    TwoStageLDSeg,
)
from ldseg.config import MODEL_NAMES
from ldseg.diffusion import NoiseSchedule
from ldseg.model import LDSeg
from ldseg.nets.blocks import stage_strides


def build_model(config) -> nn.Module:
    """The model a ``Config`` names (``in_channels`` and ``num_classes`` must be resolved).

    Every model has ``forward(image, mask, generator) -> LDSegLoss`` and
    ``sample(image, sampler, generator) -> probabilities``.
    """
    m = config.model
    dims = config.spatial_dims
    schedule = NoiseSchedule(m.timesteps, m.schedule)
    num_stages = len(m.channels) - 1
    factor = tuple(m.latent_factor) if m.latent_factor else (2**num_stages,) * dims
    if m.name == "resunet":
        net = ResUNet(
            dims,
            m.in_channels,
            m.num_classes,
            m.channels,
            stage_strides(factor, num_stages),
            m.dropout,
        )
        return DeterministicSegmenter(net, dims, m.num_classes, factor)
    if m.name == "unet":
        strides = [tuple(s) for s in stage_strides(factor, num_stages)]
        net = UNet(dims, m.in_channels, m.num_classes, m.channels, strides, num_res_units=2)
        return DeterministicSegmenter(net, dims, m.num_classes, factor)
    if m.name == "pixel-diffusion":
        return PixelDiffusion(dims, m.in_channels, m.num_classes, schedule=schedule)
    if m.name not in MODEL_NAMES:
        raise ValueError(f"unknown model {m.name!r}; choose one of {', '.join(MODEL_NAMES)}")
    cls = TwoStageLDSeg if m.name == "two-stage" else LDSeg
    model = cls(
        spatial_dims=dims,
        in_channels=m.in_channels,
        num_classes=m.num_classes,
        channels=m.channels,
        latent_factor=m.latent_factor,
        denoiser_channels=m.denoiser_channels,
        denoiser_attention=m.denoiser_attention,
        num_res_blocks=m.num_res_blocks,
        num_heads=m.num_heads,
        dropout=m.dropout,
        schedule=schedule,
        gamma=m.gamma,
        lam=m.lam,
        decoder_input=m.decoder_input,
        restandardize=config.sampling.restandardize,
        prediction=m.prediction,
        sampler=config.sampling.sampler,
        sampling_steps=config.sampling.steps,
        timestep_share=m.timestep_share,
        sampling_loss=m.sampling_loss,
        sampling_path_share=m.sampling_path_share,
    )
    if m.name in ("ldseg-ld", "ldseg-ld-id"):
        model.label_encoder = DownsampledLabelEncoder(m.num_classes, factor)
    if m.name in ("ldseg-id", "ldseg-ld-id"):
        model.image_encoder = DownsampledImageEncoder(factor)
    return model
