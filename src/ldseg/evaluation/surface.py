"""Per-class surface distances of label maps (HD95 and average symmetric surface distance), MONAI.

Empty-class rule, the same for both distances: a class absent from both prediction and truth
gets NaN (excluded from every mean, as for Dice); a class present in only one of them gets
the largest distance the image allows, its diagonal in physical units, so a missed or
hallucinated structure counts as the worst case instead of vanishing from the mean.
Background (class 0) is not scored (NaN).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
import torch
from monai.metrics import compute_average_surface_distance, compute_hausdorff_distance

from ldseg.errors import DataError

EMPTY_CLASS_RULE = (
    "Dice/IoU: a class absent from both prediction and truth is NaN (excluded from means); "
    "absent from the truth but predicted gives 0. HD95/ASD: absent from both is NaN "
    "(excluded); present in only one of the two gives the image diagonal (the largest "
    "possible distance). Background is not scored for HD95/ASD."
)


def surface_distances(
    pred: np.ndarray | torch.Tensor,
    truth: np.ndarray | torch.Tensor,
    num_classes: int,
    spacing: Sequence[float] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """HD95 and average symmetric surface distance per class (index 0, background, is NaN).

    ``spacing`` is the physical size of a pixel/voxel along each axis (None: 1 per axis, so
    distances are in pixels). See the module docstring for empty classes.
    """
    pred_t, truth_t = torch.as_tensor(pred), torch.as_tensor(truth)
    if pred_t.shape != truth_t.shape:
        raise DataError(
            f"prediction shape {tuple(pred_t.shape)} != truth shape {tuple(truth_t.shape)}"
        )
    spacing = tuple(float(s) for s in spacing) if spacing else (1.0,) * pred_t.ndim
    if len(spacing) != pred_t.ndim:
        raise ValueError(f"spacing {spacing} does not match a {pred_t.ndim}D label map")
    diagonal = math.hypot(*(n * s for n, s in zip(pred_t.shape, spacing, strict=True)))
    hd95 = np.full(num_classes, np.nan)
    asd = np.full(num_classes, np.nan)
    for c in range(1, num_classes):
        p, t = pred_t == c, truth_t == c
        if not (p.any() or t.any()):
            continue
        if not (p.any() and t.any()):
            hd95[c] = asd[c] = diagonal
            continue
        p, t = p[None, None].float(), t[None, None].float()
        with warnings.catch_warnings():  # MONAI 1.6 warns about its own deprecated argument
            warnings.simplefilter("ignore", FutureWarning)
            hd95[c] = compute_hausdorff_distance(
                p, t, include_background=True, percentile=95, spacing=spacing
            ).item()
            asd[c] = compute_average_surface_distance(
                p, t, include_background=True, symmetric=True, spacing=spacing
            ).item()
    return hd95, asd
