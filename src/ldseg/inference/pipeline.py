"""Segmenting preprocessed images: a model's sampling under an inferer, from seeded noise.

As a diffusers pipeline, :class:`SegmentationPipeline` owns what surrounds the reverse process
(the initial noise, batching, whole images or sliding windows, the frames of a trajectory);
the model runs ``ldseg.diffusion.reverse_process`` and the sampler only steps. The inferer is
MONAI's: ``SimpleInferer`` for a run that resizes to its training size, ``SlidingWindowInferer``
over training-size windows for one that keeps the native grid.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from monai.inferers import Inferer, SimpleInferer, SlidingWindowInferer

from ldseg.config import DataConfig
from ldseg.diffusion import Sampler
from ldseg.errors import LDSegError
from ldseg.models import Segmenter


def make_inferer(data: DataConfig, windows_per_call: int = 1) -> Inferer:
    """Whole images with ``data.resize``; otherwise ``data.size`` windows, ``windows_per_call``
    at a time (smaller inputs zero-padded), so memory stays bounded by the windows, overlapping
    by ``data.window_overlap`` and blended with ``data.window_blend`` weights."""
    if data.resize:
        return SimpleInferer()
    return SlidingWindowInferer(
        roi_size=data.size,
        sw_batch_size=windows_per_call,
        overlap=data.window_overlap,
        mode=data.window_blend,
        progress=False,
    )


def initial_noise(
    model: Segmenter, spatial_shape: Sequence[int], generator: torch.Generator
) -> torch.Tensor | None:
    """One image's initial noise ``(1, *model.noise_shape(spatial_shape))`` from ``generator``,
    as the model would draw it (None for a model without a reverse process)."""
    shape = model.noise_shape(spatial_shape)
    if shape is None:
        return None
    return torch.randn((1, *shape), generator=generator, device=generator.device)


def frame_indices(steps: int, max_frames: int) -> list[int]:
    """Up to ``max_frames`` evenly spaced states of a K-step reverse process (K + 1 states, the
    initial noise first), always the first and the last."""
    return np.unique(np.linspace(0, steps, max(max_frames, 2)).round().astype(int)).tolist()


@dataclass
class Frames:
    """States of the reverse process: per kept state, the class probabilities it decodes to
    ``(B, C, *S)`` and its first channel brought to the input grid ``(B, 1, *S)``."""

    indices: list[int]
    probabilities: list[torch.Tensor]
    latents: list[torch.Tensor]


class SegmentationPipeline:
    """A model, one sampler (None for a deterministic model) and the run's inferer.

    Args:
        model: the segmenter, in eval mode on its device.
        sampler: from ``model.make_sampler`` (its timesteps set).
        data: the run's data settings, which choose the inferer.
    """

    def __init__(self, model: Segmenter, sampler: Sampler | None, data: DataConfig) -> None:
        self.model, self.sampler, self.data = model, sampler, data
        self.inferer = make_inferer(data)
        # A sliding window segments one image, one window at a time: each window starts from
        # its image's seed (the windows of a batch would not know whose they are), unless every
        # window of the batch starts from the same noise or none (see ``_windows_share_noise``).
        self.sliding = isinstance(self.inferer, SlidingWindowInferer)

    @torch.no_grad()
    def __call__(
        self,
        images: torch.Tensor,
        seeds: Sequence[int] | None = None,
        generator: torch.Generator | None = None,
        batch_size: int = 16,
        max_frames: int = 0,
    ) -> tuple[torch.Tensor, Frames | None]:
        """Class probabilities ``(B, C, *S)`` of images ``(B, in_channels, *S)`` on the model's
        device, and with ``max_frames`` the kept frames of the reverse process.

        With ``seeds`` image ``i`` (and each of its windows) starts from the noise of
        ``seeds[i]`` alone, so batching changes the speed, not the result (the first seed's
        generator goes on to a stochastic sampler's steps). Without seeds the model draws the
        noise of each batch from ``generator``, as validation does.
        """
        if seeds is not None and len(seeds) != len(images):
            raise ValueError(f"{len(seeds)} seeds for {len(images)} images")
        if max_frames and self.sampler is None:
            raise LDSegError(
                f"a reverse-process trajectory needs a diffusion model, not "
                f"{type(self.model).__name__}"
            )
        # Windows of several images share a call when that changes no result (one window an
        # image per call: memory stays that of a batch of whole images).
        shared = self.sliding and self._windows_share_noise(seeds)
        chunk = 1 if self.sliding and not shared else batch_size
        probs, frames = [], []
        for start in range(0, len(images), chunk):
            part = images[start : start + chunk]
            part_seeds = None if seeds is None else list(seeds[start : start + chunk])
            inferer = make_inferer(self.data, len(part)) if shared else self.inferer
            out = inferer(part, lambda x, s=part_seeds: self._segment(x, s, generator, max_frames))
            probs.append(out[:, : self.model.num_classes])
            frames.append(out[:, self.model.num_classes :])
        return torch.cat(probs), self._split_frames(torch.cat(frames), max_frames)

    def _windows_share_noise(self, seeds: Sequence[int] | None) -> bool:
        """Whether windows of several images can share a model call without changing a result:
        a model without a reverse process, or one seed for all and a sampler that draws no noise
        in its steps (as a slice-wise run's slices of one volume)."""
        if self.sampler is None:
            return True
        return seeds is not None and len(set(seeds)) == 1 and not self.sampler.stochastic

    def _segment(
        self,
        images: torch.Tensor,
        seeds: list[int] | None,
        generator: torch.Generator | None,
        max_frames: int,
    ) -> torch.Tensor:
        """Probabilities of one inferer call (whole images or a window), then the frames'
        probabilities and latents as further channels, which the inferer blends alike."""
        noise = None
        if seeds is not None:
            generators = [torch.Generator(images.device).manual_seed(s) for s in seeds]
            draws = [initial_noise(self.model, images.shape[2:], g) for g in generators]
            noise = None if draws[0] is None else torch.cat(draws)
            if noise is not None and len(noise) != len(images):  # windows of one shared seed
                noise = noise[:1].expand(len(images), *noise.shape[1:])
            generator = generators[0]
        states: list[torch.Tensor] | None = [] if max_frames else None
        probs = self.model.sample(images, self.sampler, generator, noise=noise, trajectory=states)
        if states is None:
            return probs
        if noise is None:
            raise ValueError("a trajectory needs seeded initial noise")
        states = [noise, *states]
        kept = [states[i] for i in frame_indices(len(states) - 1, max_frames)]
        decoded = self.model.decode(kept, images)
        latents = [F.interpolate(z[:, :1], size=images.shape[2:], mode="nearest") for z in kept]
        return torch.cat([probs, *decoded, *latents], dim=1)

    def _split_frames(self, stacked: torch.Tensor, max_frames: int) -> Frames | None:
        if not max_frames:
            return None
        indices = frame_indices(len(self.sampler.timesteps), max_frames)
        classes, count = self.model.num_classes, len(indices)
        probabilities = [stacked[:, i * classes : (i + 1) * classes] for i in range(count)]
        latents = [stacked[:, count * classes + i : count * classes + i + 1] for i in range(count)]
        return Frames(indices, probabilities, latents)
