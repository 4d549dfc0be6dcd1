"""The 2D configuration for volumes (``data.slicing: 2d``): a volume's slices along one axis as
the 2D images a slice-wise run trains on and predicts, and their predictions stacked back."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ldseg.config import DataConfig
from ldseg.data.transforms import (
    match_channels,
    normalize_intensity,
    resize_image,
    resize_mask,
    target_shape,
)
from ldseg.errors import DataError

AXIS_NAMES = "xyz"  # a slice's stem: <volume stem>_<axis name><index>, e.g. patient001_z03


def slice_axis(shape: Sequence[int], spacing: Sequence[float] | None, axis: int | None) -> int:
    """The axis to slice a volume of ``shape`` and voxel ``spacing`` along: ``axis`` when given,
    else the axis of the largest spacing; among equal spacings the one with the fewest voxels, so
    a volume whose header says 1 mm isotropic (ACDC) is still cut across its few thick slices."""
    if axis is not None:
        return axis
    spacing = spacing or [1.0] * len(shape)
    return min(range(len(shape)), key=lambda a: (-round(float(spacing[a]), 6), shape[a], a))


def volume_slices(
    image: np.ndarray,
    data: DataConfig,
    in_channels: int,
    spacing: Sequence[float] | None = None,
    source: Path | str = "array",
) -> tuple[torch.Tensor, int]:
    """What a slice-wise network sees of a volume ``(C, X, Y, Z)``: its slices ``(N, C, *S)``
    along :func:`slice_axis`, and that axis.

    Channels are matched and the intensity normalised over the whole volume (not per slice, so a
    slice keeps its brightness relative to its volume, as in the 3D configuration); each slice is
    then brought to the ``target_shape`` of its in-plane shape and spacing, as a 2D image is.
    """
    if image.ndim != 4:
        raise DataError(
            f"{source}: data.slicing 2d segments volumes (C, X, Y, Z) slice by slice, got an "
            f"image of shape {tuple(image.shape)}"
        )
    axis = slice_axis(image.shape[1:], spacing, data.slice_axis)
    tensor = torch.as_tensor(match_channels(image, in_channels, source), dtype=torch.float32)
    slices = normalize_intensity(tensor, data.intensity).movedim(axis + 1, 0)  # (N, C, h, w)
    in_plane = None if spacing is None else [s for a, s in enumerate(spacing) if a != axis]
    size = target_shape(slices.shape[2:], in_plane, data)
    count, channels = slices.shape[:2]
    flat = resize_image(slices.reshape(count * channels, *slices.shape[2:]), size)
    return flat.reshape(count, channels, *size), axis


def mask_slices(mask: np.ndarray, axis: int, size: Sequence[int]) -> torch.Tensor:
    """A label volume's slices ``(N, 1, *size)`` along ``axis`` (nearest neighbour)."""
    slices = torch.as_tensor(mask).movedim(axis, 0)
    return resize_mask(slices, size)[:, None]


def slice_stems(stem: str, axis: int, count: int) -> list[str]:
    """The stems of a volume's slices: ``patient001_frame01_z00``, ``..._z01``, ..."""
    width = max(2, len(str(count - 1)))
    return [f"{stem}_{AXIS_NAMES[axis]}{i:0{width}d}" for i in range(count)]


def volume_stem(slice_stem: str) -> str:
    """The volume stem of a :func:`slice_stems` stem: ``patient001_frame01_z03`` ->
    ``patient001_frame01``."""
    return slice_stem.rsplit("_", 1)[0]


def stack_slices(slices: Sequence[np.ndarray], axis: int, channel_first: bool) -> np.ndarray:
    """Slices of a prediction (masks ``(h, w)`` or maps ``(K, h, w)`` with ``channel_first``)
    stacked back into the volume along ``axis``."""
    return np.stack(slices, axis=axis + 1 if channel_first else axis)
