"""Post-processing in nnU-Net's manner: keep only a class's largest connected component where
that raises the class's mean Dice on the validation cases (removed voxels become background).

Components come from ``scipy.ndimage.label``: MONAI's ``KeepLargestConnectedComponent`` does
the same but needs scikit-image, which ldseg does not depend on.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from ldseg.evaluation.metrics import as_number, class_statistics, dice_iou


def keep_largest_component(mask: np.ndarray, classes: Sequence[int]) -> np.ndarray:
    """A label map ``(*S)`` with each of ``classes`` reduced to its largest connected component
    (full connectivity), the rest of that class set to background; other classes untouched."""
    kept = mask.copy()
    structure = ndimage.generate_binary_structure(mask.ndim, mask.ndim)
    for c in classes:
        labels, count = ndimage.label(mask == c, structure)
        if count > 1:
            largest = np.bincount(labels.ravel())[1:].argmax() + 1
            kept[(labels > 0) & (labels != largest)] = 0
    return kept


def decide_postprocessing(
    predictions: Sequence[np.ndarray], truths: Sequence[np.ndarray], num_classes: int
) -> dict:
    """For each foreground class, whether keeping only its largest connected component raises
    its mean Dice over the cases (empty-in-both left out), with the Dice before and after.

    Returns ``{"keep_largest_component": [classes], "dice_before": [...], "dice_after": [...],
    "cases": N}`` (per-class lists from class 1 up; None where no case has the class).
    """
    before = [dice_iou(p, t, num_classes)[0] for p, t in zip(predictions, truths, strict=True)]
    before_mean = class_statistics(before)[0]
    chosen, after_mean = [], []
    for c in range(1, num_classes):
        scores = [
            dice_iou(keep_largest_component(p, [c]), t, num_classes)[0]
            for p, t in zip(predictions, truths, strict=True)
        ]
        mean = class_statistics(scores)[0][c]
        after_mean.append(mean)
        if mean > before_mean[c]:  # NaN (no case has the class) compares False
            chosen.append(c)
    return {
        "keep_largest_component": chosen,
        "dice_before": [as_number(v) for v in before_mean[1:]],
        "dice_after": [as_number(v) for v in after_mean],
        "cases": len(predictions),
    }
