"""Evaluation: Dice/IoU metrics and folder reports (overlays live in ``ldseg.evaluation.overlay``,
kept out of this import so that training does not load matplotlib)."""

from ldseg.evaluation.evaluate import evaluate_folders
from ldseg.evaluation.metrics import dice_iou

__all__ = ["dice_iou", "evaluate_folders"]
