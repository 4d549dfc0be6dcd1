"""Evaluation: scoring masks against truth (Dice, IoU, surface distances, their statistics over
cases), folder reports (JSON, CSV, Markdown, HTML) and overlay figures. It knows masks, not
models (``ldseg.evaluation.overlay`` and ``report`` load matplotlib: import them directly)."""

from ldseg.evaluation.evaluate import evaluate_masks, format_report, pair_folders
from ldseg.evaluation.metrics import dice_iou, dice_summary

__all__ = ["dice_iou", "dice_summary", "evaluate_masks", "format_report", "pair_folders"]
