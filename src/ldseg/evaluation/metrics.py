"""Per-class Dice and IoU of label maps, computed with MONAI."""

from __future__ import annotations

import numpy as np
import torch
from monai.metrics import compute_dice, compute_iou
from monai.networks.utils import one_hot

from ldseg.errors import DataError


def _one_hot(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    return one_hot(labels[None, None].long(), num_classes, dim=1)


def dice_iou(
    pred: np.ndarray | torch.Tensor, truth: np.ndarray | torch.Tensor, num_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """Dice and IoU per class (index 0 is background) of two label maps of one spatial shape.

    Empty-class rule: a class absent from both truth and prediction gets NaN (excluded from
    every mean); a class absent from the truth but predicted gets 0.
    """
    pred_t, truth_t = torch.as_tensor(pred).detach().cpu(), torch.as_tensor(truth).detach().cpu()
    if pred_t.shape != truth_t.shape:
        raise DataError(
            f"prediction shape {tuple(pred_t.shape)} != truth shape {tuple(truth_t.shape)}"
        )
    for name, labels in (("prediction", pred_t), ("truth", truth_t)):
        if labels.numel() and (labels.min() < 0 or labels.max() >= num_classes):
            raise DataError(
                f"{name} has labels {labels.min().item()}..{labels.max().item()}, "
                f"outside 0..{num_classes - 1}"
            )
    pred_oh, truth_oh = _one_hot(pred_t, num_classes), _one_hot(truth_t, num_classes)
    dice = compute_dice(pred_oh, truth_oh, include_background=True, ignore_empty=False)[0]
    iou = compute_iou(pred_oh, truth_oh, include_background=True, ignore_empty=False)[0]
    spatial = tuple(range(2, pred_oh.ndim))
    absent = (pred_oh.sum(spatial) + truth_oh.sum(spatial))[0] == 0
    dice[absent], iou[absent] = torch.nan, torch.nan
    return dice.double().numpy(), iou.double().numpy()
