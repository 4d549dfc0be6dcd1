"""Every model ``ldseg train --model NAME`` can train, built from a run configuration.

``MODELS`` maps each name to its builder; ``MODEL_NAMES`` (what ``config.json`` may name) is
its keys.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from monai.networks.nets import UNet

from ldseg.diffusion import NoiseSchedule
from ldseg.models.ablations import DownsampledImageEncoder, DownsampledLabelEncoder
from ldseg.models.base import Segmenter
from ldseg.models.deterministic import DeterministicSegmenter
from ldseg.models.ldseg import LDSeg
from ldseg.models.pixel_diffusion import PixelDiffusion
from ldseg.models.resunet import ResUNet
from ldseg.models.sizes import model_factor
from ldseg.models.two_stage import TwoStageLDSeg
from ldseg.nets.blocks import stage_strides

if TYPE_CHECKING:  # the config module sits above the models (it validates MODEL_NAMES)
    from ldseg.config import Config


def _schedule(config: Config) -> NoiseSchedule:
    return NoiseSchedule(config.model.timesteps, config.model.schedule)


def _strides(config: Config) -> list[tuple[int, ...]]:
    return stage_strides(model_factor(config), len(config.model.channels) - 1)


def _latent_diffusion(config: Config, cls: type[LDSeg] = LDSeg) -> LDSeg:
    m = config.model
    return cls(
        spatial_dims=config.spatial_dims,
        in_channels=m.in_channels,
        num_classes=m.num_classes,
        channels=m.channels,
        latent_factor=model_factor(config),
        denoiser_channels=m.denoiser_channels,
        denoiser_attention=m.denoiser_attention,
        num_res_blocks=m.num_res_blocks,
        num_heads=m.num_heads,
        dropout=m.dropout,
        schedule=_schedule(config),
        gamma=m.gamma,
        lam=m.lam,
        decoder_input=m.decoder_input,
        restandardize=config.sampling.restandardize,
        prediction=m.prediction,
        sampler=config.sampling.sampler,
        sampling_steps=config.sampling.steps,
        timestep_share=m.timestep_share,
        sampling_path_share=m.sampling_path_share,
        max_attention_tokens=m.max_attention_tokens,
        input_size=config.data.size,
        label_latent_channels=m.label_latent_channels,
        image_latent_channels=m.image_latent_channels,
        decoder_image_skips=m.decoder_image_skips,
        stem_stride=m.stem_stride,
        decoder_image_head=m.decoder_image_head,
    )


def _ablation(label: bool, image: bool) -> Callable[[Config], Segmenter]:
    """LDSeg with the label encoder (``label``) and/or image encoder (``image``) replaced by
    parameter-free downsampling, the paper's "ld" and "id" ablations."""

    def build(config: Config) -> LDSeg:
        model = _latent_diffusion(config)
        if label:
            model.label_encoder = DownsampledLabelEncoder(
                config.model.num_classes, model_factor(config)
            )
        if image:
            model.image_encoder = DownsampledImageEncoder(model_factor(config))
        return model

    return build


def _two_stage(config: Config) -> TwoStageLDSeg:
    """The paper's two-stage ablation (its decoder takes no image skips: ``FIXED_KEYS``)."""
    return _latent_diffusion(config, TwoStageLDSeg)


def _resunet(config: Config) -> DeterministicSegmenter:
    m, dims = config.model, config.spatial_dims
    net = ResUNet(dims, m.in_channels, m.num_classes, m.channels, _strides(config), m.dropout)
    return DeterministicSegmenter(net, dims, m.num_classes, model_factor(config))


def _unet(config: Config) -> DeterministicSegmenter:
    m, dims = config.model, config.spatial_dims
    strides = [tuple(s) for s in _strides(config)]
    net = UNet(dims, m.in_channels, m.num_classes, m.channels, strides, num_res_units=2)
    return DeterministicSegmenter(net, dims, m.num_classes, model_factor(config))


def _pixel_diffusion(config: Config) -> PixelDiffusion:
    m = config.model
    return PixelDiffusion(
        config.spatial_dims, m.in_channels, m.num_classes, schedule=_schedule(config)
    )


MODELS: dict[str, Callable[[Config], Segmenter]] = {
    "ldseg": _latent_diffusion,
    "ldseg-ld": _ablation(label=True, image=False),
    "ldseg-id": _ablation(label=False, image=True),
    "ldseg-ld-id": _ablation(label=True, image=True),
    "resunet": _resunet,
    "unet": _unet,
    "pixel-diffusion": _pixel_diffusion,
    "two-stage": _two_stage,
}
MODEL_NAMES = tuple(MODELS)

# model keys a model fixes, whatever the config says: with a downsampled image as the condition
# there is one channel and no stage outputs; the two-stage autoencoder is trained before the
# image encoder exists, so its decoder takes no image skips
_NO_SKIPS = {"decoder_image_skips": False, "decoder_image_head": False}
_NO_IMAGE_ENCODER = {"image_latent_channels": 1, **_NO_SKIPS}
_NO_LABEL_ENCODER = {"label_latent_channels": 1}
FIXED_KEYS: dict[str, dict[str, object]] = {
    "ldseg-ld": _NO_LABEL_ENCODER,
    "ldseg-id": _NO_IMAGE_ENCODER,
    "ldseg-ld-id": {**_NO_LABEL_ENCODER, **_NO_IMAGE_ENCODER},
    "two-stage": _NO_SKIPS,
}


def as_built(config: Config) -> Config:
    """``config`` with the keys its model fixes (``FIXED_KEYS``) set: what ``build_model``
    builds and what a run folder records."""
    fixed = FIXED_KEYS.get(config.model.name)
    return replace(config, model=replace(config.model, **fixed)) if fixed else config


def build_model(config: Config) -> Segmenter:
    """The model ``config.model.name`` names (``in_channels`` and ``num_classes`` resolved)."""
    try:
        build = MODELS[config.model.name]
    except KeyError:
        raise ValueError(
            f"unknown model {config.model.name!r}; choose one of {', '.join(MODEL_NAMES)}"
        ) from None
    return build(as_built(config))
