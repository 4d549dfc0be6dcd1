"""Post-processing in nnU-Net's manner, decided on the validation cases: first keep only the
largest connected region of all foreground classes together where that raises the mean
foreground Dice (it removes stray blobs of any class away from the object), then keep only a
class's largest connected component where that raises the class's mean Dice. Removed voxels
become background.

Components come from ``scipy.ndimage.label``: MONAI's ``KeepLargestConnectedComponent`` does
the same but needs scikit-image, which ldseg does not depend on.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from ldseg.evaluation.metrics import CaseScores, as_number, foreground_mean

FOREGROUND = 0  # in a list of classes to reduce: every foreground class as one region


def keep_largest_component(mask: np.ndarray, classes: Sequence[int]) -> np.ndarray:
    """A label map ``(*S)`` with each of ``classes`` reduced to its largest connected component
    (full connectivity), the rest of that class set to background; other classes untouched.
    ``FOREGROUND`` (0) stands for all foreground classes as one region and goes first."""
    kept = mask.copy()
    structure = ndimage.generate_binary_structure(mask.ndim, mask.ndim)
    for c in sorted(classes):
        labels, count = ndimage.label(kept > 0 if c == FOREGROUND else kept == c, structure)
        if count > 1:
            largest = np.bincount(labels.ravel())[1:].argmax() + 1
            kept[(labels > 0) & (labels != largest)] = 0
    return kept


def _class_dice(
    predictions: Sequence[np.ndarray], truths: Sequence[np.ndarray], n: int
) -> np.ndarray:
    """Per-class mean Dice over the cases, empty-in-both left out."""
    return CaseScores.of(predictions, truths, n).class_dice()


def decide_postprocessing(
    predictions: Sequence[np.ndarray], truths: Sequence[np.ndarray], num_classes: int
) -> dict:
    """Whether keeping the largest foreground region raises the mean foreground Dice over the
    cases; then, on the masks that step leaves, for each foreground class whether keeping its
    largest connected component raises its mean Dice (empty-in-both left out).

    Returns ``{"keep_largest_component": [classes, FOREGROUND first if chosen],
    "foreground_dice_before": mean, "foreground_dice_region": mean after the region step,
    "dice_before": [...], "dice_after": [...], "cases": N}``; the per-class lists run from
    class 1 up (None where no case has the class): before any step, and after the region step
    if chosen and then the class's own.
    """
    before = _class_dice(predictions, truths, num_classes)
    regions = [keep_largest_component(p, [FOREGROUND]) for p in predictions]
    in_region = _class_dice(regions, truths, num_classes)
    chosen = []
    if foreground_mean(in_region) > foreground_mean(before):  # NaN compares False
        chosen, predictions, base = [FOREGROUND], regions, in_region
    else:
        base = before
    after_mean = []
    for c in range(1, num_classes):
        kept = [keep_largest_component(p, [c]) for p in predictions]
        mean = _class_dice(kept, truths, num_classes)[c]
        after_mean.append(mean)
        if mean > base[c]:
            chosen.append(c)
    return {
        "keep_largest_component": chosen,
        "foreground_dice_before": as_number(foreground_mean(before)),
        "foreground_dice_region": as_number(foreground_mean(in_region)),
        "dice_before": [as_number(v) for v in before[1:]],
        "dice_after": [as_number(v) for v in after_mean],
        "cases": len(predictions),
    }
