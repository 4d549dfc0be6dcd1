"""Per-class Dice and IoU of label maps (computed with MONAI), and their statistics over cases:
the one per-case scoring (:class:`CaseScores`) and aggregation that validation, the
post-processing decision, ``ldseg evaluate``, ``compare`` and the experiments share."""

from __future__ import annotations

from collections.abc import Sequence

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


def class_statistics(scores: np.ndarray | list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-class mean, standard deviation and count over cases ``(N, C)`` with the NaN of the
    empty-class rule left out; mean and SD are NaN for a class no case has."""
    scores = np.asarray(scores, dtype=float)
    present = ~np.isnan(scores)
    counts = present.sum(0)
    filled = np.where(present, scores, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = filled.sum(0) / counts
        stds = np.sqrt(np.where(present, (scores - means) ** 2, 0.0).sum(0) / counts)
    return means, stds, counts


def foreground_mean(class_values: np.ndarray) -> float:
    """The mean over the foreground classes (1 and up) that have a value; NaN when none has."""
    values = np.asarray(class_values, dtype=float)[1:]
    values = values[~np.isnan(values)]
    return float(values.mean()) if values.size else float("nan")


def dice_summary(scores: np.ndarray | list) -> dict[str, float | list | None]:
    """Per-class Dice over cases and its foreground mean, as every report states them: the
    mean over cases of each class (empty-in-both left out), None where no case has the class."""
    means = class_statistics(scores)[0]
    return {
        "mean_dice": as_number(foreground_mean(means)),
        "class_dice": [as_number(m) for m in means],
    }


def as_number(value: float) -> float | None:
    """A float for JSON: None for NaN."""
    return None if np.isnan(value) else float(value)


class CaseScores:
    """Per-case Dice (and with ``iou`` IoU) of predicted label maps against their truths, and
    their statistics over the cases, in the order of the cases' positions.

    Cases may be added in any order under their ``position`` (default: the next one), as
    a segmentation that batches cases of one size together finishes them.
    """

    def __init__(self, num_classes: int, iou: bool = False) -> None:
        self.num_classes, self.with_iou = num_classes, iou
        self._rows: dict[int, tuple[np.ndarray, np.ndarray | None]] = {}

    @classmethod
    def of(
        cls,
        masks: Sequence[np.ndarray],
        truths: Sequence[np.ndarray],
        num_classes: int,
        iou: bool = False,
    ) -> CaseScores:
        """The scores of ``masks[i]`` against ``truths[i]``."""
        scores = cls(num_classes, iou)
        for mask, truth in zip(masks, truths, strict=True):
            scores.add(mask, truth)
        return scores

    def add(self, mask: np.ndarray, truth: np.ndarray, position: int | None = None) -> np.ndarray:
        """Score one case (:func:`dice_iou`); returns its per-class Dice."""
        position = len(self._rows) if position is None else position
        dice, iou = dice_iou(mask, truth, self.num_classes)
        self._rows[position] = (dice, iou if self.with_iou else None)
        return dice

    def __len__(self) -> int:
        return len(self._rows)

    @property
    def dice(self) -> np.ndarray:
        """Per-case, per-class Dice ``(N, C)``, NaN where a class is in neither map."""
        return self._stacked(0)

    @property
    def iou(self) -> np.ndarray:
        """Per-case, per-class IoU ``(N, C)`` (scores made with ``iou``)."""
        if not self.with_iou:
            raise ValueError("these scores were made without IoU")
        return self._stacked(1)

    def class_dice(self) -> np.ndarray:
        """Per-class mean Dice over the cases, empty-in-both left out (empty: no cases)."""
        return class_statistics(self.dice)[0] if self._rows else np.array([])

    def summary(self) -> dict[str, float | list | None]:
        """:func:`dice_summary` of the cases."""
        return dice_summary(self.dice)

    def _stacked(self, which: int) -> np.ndarray:
        rows = [self._rows[p][which] for p in sorted(self._rows)]
        return np.array(rows, dtype=float).reshape(len(rows), self.num_classes)
