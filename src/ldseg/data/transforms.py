"""Preprocessing shared by training and prediction (MONAI transforms): the grid the network
sees, labels, channels, intensity, size, and training crops and augmentation."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from monai.transforms import (
    CastToTyped,
    Compose,
    RandAffined,
    RandCropByPosNegLabeld,
    RandFlipd,
    RandGaussianNoised,
    RandRotate90d,
    RandScaleIntensityd,
    RandShiftIntensityd,
    Resize,
    SpatialPadd,
)
from monai.utils import convert_to_tensor

from ldseg.config import DataConfig
from ldseg.data.formats import is_itk, is_volume
from ldseg.errors import DataError

PERCENTILES = (0.5, 99.5)  # data.intensity "percentile": the range mapped to [0, 1], clipped


def target_shape(
    shape: Sequence[int], spacing: Sequence[float] | None, data: DataConfig
) -> tuple[int, ...]:
    """Spatial shape an image of ``shape`` and voxel ``spacing`` is brought to before the network.

    ``data.size`` when resizing; otherwise the native shape, or with ``data.spacing`` the shape
    that covers the same extent at that spacing (nnU-Net style, so the inverse is a resize back).
    """
    if data.resize:
        return tuple(data.size)
    if data.spacing is None or spacing is None:
        return tuple(shape)
    return tuple(
        max(1, round(n * s / t)) for n, s, t in zip(shape, spacing, data.spacing, strict=True)
    )


def plain_tensor(x, dtype: torch.dtype | None = None) -> torch.Tensor:
    """A plain ``torch.Tensor`` (MONAI transforms return MetaTensors, slow in training)."""
    return convert_to_tensor(x, dtype=dtype, track_meta=False)


def match_channels(image: np.ndarray, in_channels: int, path: Path | str) -> np.ndarray:
    """Return ``image`` with ``in_channels`` channels; an RGB(A) raster becomes grey for a grey
    model. A volume's extra axis (NIfTI, MHA, NRRD: time, echoes, ...) is never colour: its
    entries are channels only when the model expects that many."""
    channels = image.shape[0]
    if channels == in_channels:
        return image
    volume = is_volume(path) or is_itk(path)
    if in_channels == 1 and channels in (3, 4) and not volume:
        return image[:3].mean(axis=0, keepdims=True)
    if volume:
        raise DataError(
            f"{path}: volume has {channels} entries on its extra axis (read as channels, never "
            f"as colour); the model expects {in_channels} channel(s)"
        )
    raise DataError(f"{path}: image has {channels} channels, the model expects {in_channels}")


def normalize_intensity(image: torch.Tensor, mode: str) -> torch.Tensor:
    """Per-channel intensity normalisation of one image ``(C, *S)`` (``data.intensity``):
    :func:`normalize_batch` channel by channel, each statistic a reduction of its own (so that
    the result does not depend on the number of channels or threads)."""
    channels = [normalize_batch(channel[None, None], mode)[0] for channel in image.float()]
    return torch.cat(channels)


def normalize_batch(images: torch.Tensor, mode: str) -> torch.Tensor:
    """Intensity normalisation of every image and channel of a batch ``(B, C, *S)``: min-max to
    [0, 1], z-score, or the 0.5-99.5 percentile range clipped to [0, 1].

    The one implementation, in plain tensor operations that trace and export; per channel it
    computes what MONAI's ``ScaleIntensity``, ``NormalizeIntensity`` and
    ``ScaleIntensityRangePercentiles`` (``channel_wise``) do, to the bit.
    """
    flat = images.flatten(2)
    stats = (*images.shape[:2], *[1] * (images.ndim - 2))
    if mode == "zscore":  # NormalizeIntensity: a zero SD divides by 1
        mean = flat.mean(2).reshape(stats)
        std = flat.std(2, correction=0).reshape(stats)
        return (images - mean) / torch.where(std == 0, torch.ones_like(std), std)
    if mode == "minmax":  # ScaleIntensity: a constant channel becomes 0
        low, high = flat.amin(2).reshape(stats), flat.amax(2).reshape(stats)
        span = high - low
        scaled = (images - low) / torch.where(span == 0, torch.ones_like(span), span)
        return torch.where(span == 0, torch.zeros_like(scaled), scaled)
    if mode == "percentile":  # ScaleIntensityRangePercentiles: torch.quantile, then clip
        ordered = flat.sort(2).values
        low, high = (_quantile(ordered, q / 100).reshape(stats) for q in PERCENTILES)
        span = high - low
        scaled = ((images - low) / torch.where(span == 0, torch.ones_like(span), span)).clamp(0, 1)
        return torch.where(span == 0, images - low, scaled)
    raise ValueError(f"unknown intensity normalisation {mode!r}")


def _quantile(ordered: torch.Tensor, q: float) -> torch.Tensor:
    """``torch.quantile`` (linear) along the last axis of sorted values of a fixed length."""
    rank = torch.tensor(q, dtype=torch.float32) * (ordered.shape[-1] - 1)  # float32, as quantile
    below = math.floor(rank)
    above = min(below + 1, ordered.shape[-1] - 1)
    return torch.lerp(ordered[..., below], ordered[..., above], (rank - below).item())


def resize_image(image: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Resize a channel-first image (linear interpolation, anti-aliased when shrinking)."""
    if tuple(image.shape[1:]) == tuple(size):
        return image
    mode = "bilinear" if len(size) == 2 else "trilinear"
    return plain_tensor(Resize(list(size), mode=mode, anti_aliasing=True)(image))


def resize_mask(mask: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Resize a channel-first label map with nearest-neighbour interpolation."""
    if tuple(mask.shape[1:]) == tuple(size):
        return mask
    return plain_tensor(Resize(list(size), mode="nearest-exact")(mask.float())).long()


def resize_probabilities(probs: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Bring class probabilities ``(C, *S)`` to ``size`` by linear interpolation."""
    if tuple(probs.shape[1:]) == tuple(size):
        return probs
    mode = "bilinear" if len(size) == 2 else "trilinear"
    return plain_tensor(Resize(list(size), mode=mode)(probs))


def prepare_image(
    image: np.ndarray,
    data: DataConfig,
    in_channels: int,
    spacing: Sequence[float] | None = None,
    source: Path | str = "array",
) -> torch.Tensor:
    """What the network sees of an image ``(C, *S)`` of voxel ``spacing``, in training and
    prediction alike: ``in_channels`` channels, normalised intensity, the ``target_shape``."""
    size = target_shape(image.shape[1:], spacing, data)
    tensor = torch.as_tensor(match_channels(image, in_channels, source), dtype=torch.float32)
    return resize_image(normalize_intensity(tensor, data.intensity), size)


def relabel(mask: np.ndarray, mapping: Sequence[int] | None, path: Path | str) -> np.ndarray:
    """Map label value ``v`` to class ``mapping[v]`` (identity without a mapping)."""
    if mapping is None:
        return mask
    if mask.size and mask.max() >= len(mapping):
        values = sorted(int(v) for v in np.unique(mask[mask >= len(mapping)]))
        raise DataError(
            f"{path}: label value(s) {values} have no entry in data.class_mapping {list(mapping)}"
        )
    return np.asarray(mapping, dtype=np.int64)[mask]


def train_transform(
    size: Sequence[int], crop: bool, augment: Sequence[str], seed: int
) -> Compose | None:
    """Training crops and augmentation of ``{"image", "mask"}`` cases (MONAI dictionary transforms).

    ``crop``: pad to ``size`` and take one random ``size`` crop, centred on foreground or
    background with equal probability. ``augment`` holds any of ``flip`` (every axis),
    ``rot90`` (in the first two axes), ``affine`` (in-plane rotation up to 15 degrees, scale
    0.9-1.1) and ``intensity`` (scale and shift by up to 10 %, Gaussian noise).
    """
    keys, dims = ("image", "mask"), len(size)
    steps: list = []
    if crop:
        steps += [
            SpatialPadd(keys, size),
            RandCropByPosNegLabeld(keys, "mask", size, pos=1, neg=1, num_samples=1),
        ]
    if "flip" in augment:
        steps += [RandFlipd(keys, prob=0.5, spatial_axis=a) for a in range(dims)]
    if "rot90" in augment:
        steps.append(RandRotate90d(keys, prob=0.5, spatial_axes=(0, 1)))
    if "affine" in augment:
        rotate = 0.26 if dims == 2 else (0.0, 0.0, 0.26)
        steps.append(
            RandAffined(
                keys, prob=0.3, rotate_range=rotate, scale_range=0.1, mode=("bilinear", "nearest")
            )
        )
    if "intensity" in augment:
        steps += [
            RandScaleIntensityd("image", factors=0.1, prob=0.3),
            RandShiftIntensityd("image", offsets=0.1, prob=0.3),
            RandGaussianNoised("image", prob=0.2, std=0.02),
        ]
    if not steps:
        return None
    transform = Compose([*steps, CastToTyped(keys, dtype=(torch.float32, torch.int64))])
    transform.set_random_state(seed=seed)
    return transform
