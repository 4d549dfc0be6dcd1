"""The grid the network sees: fixed size, target spacing or native, and sliding windows over it."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from monai.inferers import sliding_window_inference

from ldseg.config import DataConfig


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


def window_inference(
    segment: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor, data: DataConfig
) -> torch.Tensor:
    """Class probabilities ``(B, C, *S)`` of images ``(B, in_channels, *S)``.

    With ``data.resize`` the images already have the training size and go through ``segment``
    whole; otherwise ``segment`` sees one ``data.size`` window at a time (inputs smaller than a
    window are zero-padded), so memory stays bounded by the window size, and overlapping windows
    are blended with ``data.window_blend`` weights (MONAI ``sliding_window_inference``).
    """
    if data.resize:
        return segment(images)
    return sliding_window_inference(
        images,
        roi_size=data.size,
        sw_batch_size=1,
        predictor=segment,
        overlap=data.window_overlap,
        mode=data.window_blend,
        progress=False,
    )
