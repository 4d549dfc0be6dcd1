"""A model's class probabilities averaged over its draws (samples and test-time flips) at the
network's size, and the predictions made from such means (resized back, argmax, SD, largest
components)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import torch

from ldseg.config import Config
from ldseg.data.transforms import resize_probabilities
from ldseg.errors import LDSegError
from ldseg.evaluation.postprocess import keep_largest_component
from ldseg.inference.pipeline import Frames, SegmentationPipeline
from ldseg.inference.results import Prediction, SamplingOptions, Trajectory

Axes = tuple[int, ...]


def flip_axes(config: Config, tta: bool, source: str = "the run") -> list[Axes]:
    """The spatial axes flipped in each draw: none without ``tta``; with it every subset of the
    axes (identity included), as training flipped each axis with probability 1/2. A run
    trained without flips (``train.flips`` false, no ``flip`` in ``data.augment``) refuses
    ``tta``."""
    if not tta:
        return [()]
    if not (config.train.flips or "flip" in config.data.augment):
        raise LDSegError(
            f"--tta: {source} was trained without flips (train.flips false, no 'flip' in "
            "data.augment); test-time flips would show it images it never saw"
        )
    axes = range(config.spatial_dims)
    return [subset for n in range(len(axes) + 1) for subset in combinations(axes, n)]


@dataclass
class Moments:
    """Per image, the mean ``(N, C, *size)`` of its class probabilities over its draws, the mean
    of their squares (None for one sample per image) and the first sample's trajectory."""

    mean: torch.Tensor
    mean_square: torch.Tensor | None
    trajectories: dict[int, Trajectory]


def sample_moments(
    pipeline: SegmentationPipeline,
    images: torch.Tensor,
    shapes: Sequence[Sequence[int]],
    options: SamplingOptions,
    device: torch.device,
    batch_size: int = 16,
    max_frames: int = 0,
    flips: Sequence[Axes] = ((),),
) -> Moments:
    """Sample images ``(N, C, *size)``: sample ``s`` of image ``i`` from the noise of seed
    ``options.seed + s`` alone, ``batch_size`` samples at a time, once per entry of ``flips``
    (the image flipped on those axes, its probabilities flipped back). ``max_frames`` keeps the
    unflipped first sample's trajectory, its masks at ``shapes[i]``."""
    rows = [(i, s) for i in range(len(images)) for s in range(options.samples)]
    draws = options.samples * len(flips)
    dtype = torch.float64 if draws > 1 else torch.float32  # float32 holds one
    total = torch.zeros(len(images), pipeline.model.num_classes, *images.shape[2:], dtype=dtype)
    squares = torch.zeros_like(total) if options.samples > 1 else None
    trajectories: dict[int, Trajectory] = {}
    for start in range(0, len(rows), batch_size):
        index, sample = (list(v) for v in zip(*rows[start : start + batch_size], strict=True))
        chunk = images[index].to(device).contiguous()
        seeds = [options.seed + s for s in sample]
        for axes in flips:
            dims = [a + 2 for a in axes]
            part = chunk.flip(dims) if axes else chunk
            frames_kept = 0 if axes else max_frames
            probs, frames = pipeline(part, seeds, batch_size=batch_size, max_frames=frames_kept)
            probs = probs.cpu().to(dtype)
            probs = probs.flip(dims) if axes else probs
            total.index_add_(0, torch.tensor(index), probs)
            if squares is not None:
                squares.index_add_(0, torch.tensor(index), probs**2)
            for row, (i, s) in enumerate(zip(index, sample, strict=True)):
                if frames is not None and s == 0:
                    trajectories[i] = _trajectory(pipeline, frames, row, shapes[i])
    mean_square = None if squares is None else squares / draws
    return Moments(total / draws, mean_square, trajectories)


def predictions(
    moments: Moments, shapes: Sequence[Sequence[int]], keep_largest: Sequence[int] = ()
) -> list[Prediction]:
    """Each image's mean probabilities resized back to ``shapes[i]``, their argmax with only the
    largest connected component of each class in ``keep_largest`` kept (0: of the foreground),
    and the per-pixel SD of the predicted class's probability over the draws (with several
    samples)."""
    found = []
    for i, shape in enumerate(shapes):
        mean = resize_probabilities(moments.mean[i].float(), shape)
        mask = mean.argmax(0)
        std = None
        if moments.mean_square is not None:
            variance = (moments.mean_square[i] - moments.mean[i] ** 2).clamp(min=0).float()
            std = resize_probabilities(variance.sqrt(), shape).gather(0, mask[None])[0].numpy()
        mask = keep_largest_component(mask.numpy().astype(np.uint8), keep_largest)
        found.append(Prediction(mask, mean.numpy(), std, moments.trajectories.get(i)))
    return found


def _trajectory(
    pipeline: SegmentationPipeline, frames: Frames, row: int, shape: Sequence[int]
) -> Trajectory:
    """Row ``row`` of a pipeline's frames, the masks resized to the input ``shape``."""
    timesteps = [*pipeline.sampler.timesteps.tolist(), 0]
    masks = [
        resize_probabilities(p[row].cpu(), shape).argmax(0).numpy().astype(np.uint8)
        for p in frames.probabilities
    ]
    latents = [z[row, 0].cpu().numpy() for z in frames.latents]
    return Trajectory([timesteps[i] for i in frames.indices], latents, masks)
