"""Score a folder of predicted masks against a folder of truth masks; write JSON and CSV."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import numpy as np

from ldseg.data.io import list_masks, pair_files, read_image, read_mask
from ldseg.errors import DataError
from ldseg.evaluation.metrics import dice_iou
from ldseg.evaluation.surface import EMPTY_CLASS_RULE, surface_distances
from ldseg.utils import atomic_write


def _stats(values: np.ndarray) -> tuple[float | None, float | None, int]:
    """Mean, standard deviation and count of the non-NaN values (None when there are none)."""
    kept = values[~np.isnan(values)]
    if not kept.size:
        return None, None, 0
    return float(kept.mean()), float(kept.std()), int(kept.size)


def _or_none(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def _mean(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return sum(kept) / len(kept) if kept else None


def evaluate_folders(
    pred_dir: str | Path,
    truth_dir: str | Path,
    num_classes: int | None = None,
    out_json: str | Path | None = None,
    class_names: list[str] | None = None,
    surface: bool = False,
) -> dict:
    """Per-case and per-class Dice/IoU of predictions (named by image stem) against truth masks.

    ``mean_dice``/``mean_iou`` average the foreground classes' means over cases; NaN (class in
    neither mask, see :func:`dice_iou`) is excluded and written as null. With ``out_json`` the
    report is written there and the per-case table beside it as ``<stem>.csv``.
    ``num_classes`` None takes the largest label found in either folder + 1 (at least 2).

    ``surface`` adds per-class HD95 and average surface distance (``hd95``, ``asd``, their
    ``_std`` and foreground means) in the truth files' physical units (mm for NIfTI, pixels
    for raster images); see :mod:`ldseg.evaluation.surface` for how empty classes count.
    """
    if num_classes is not None and num_classes < 2:
        raise ValueError(f"num_classes must be at least 2, got {num_classes}")
    preds, truths = list_masks(pred_dir), list_masks(truth_dir)
    pairs = pair_files(preds, truths, f"{pred_dir} vs {truth_dir}", ("prediction", "truth mask"))
    masks = [(read_mask(pair.image), read_mask(pair.mask)) for pair in pairs]
    if num_classes is None:
        num_classes = max(2, 1 + max(int(max(p.max(), t.max())) for p, t in masks))
    if class_names is not None and len(class_names) != num_classes:
        raise ValueError(f"{len(class_names)} class names for {num_classes} classes")
    dice = np.empty((len(pairs), num_classes))
    iou = np.empty((len(pairs), num_classes))
    hd95 = np.empty((len(pairs), num_classes))
    asd = np.empty((len(pairs), num_classes))
    units = set()
    for i, (pair, (pred, truth)) in enumerate(zip(pairs, masks, strict=True)):
        try:
            dice[i], iou[i] = dice_iou(pred, truth, num_classes)
        except DataError as err:
            raise DataError(f"{pair.image} vs {pair.mask.name}: {err}") from err
        if surface:
            meta = read_image(pair.mask)[1]
            units.add("mm" if meta["kind"] == "volume" else "pixel")
            hd95[i], asd[i] = surface_distances(pred, truth, num_classes, meta["spacing"])

    classes = {}
    for c in range(num_classes):
        dice_mean, dice_std, count = _stats(dice[:, c])
        iou_mean, iou_std, _ = _stats(iou[:, c])
        classes[str(c)] = {
            "name": class_names[c] if class_names else None,
            "dice": dice_mean,
            "iou": iou_mean,
            "dice_std": dice_std,
            "iou_std": iou_std,
            "num_cases": count,
        }
        if surface:
            for name, values in (("hd95", hd95[:, c]), ("asd", asd[:, c])):
                classes[str(c)][name], classes[str(c)][f"{name}_std"], _ = _stats(values)
    foreground = [classes[str(c)] for c in range(1, num_classes)]
    report = {
        "num_cases": len(pairs),
        "num_classes": num_classes,
        "class_names": list(class_names) if class_names else None,
        "mean_dice": _mean([cls["dice"] for cls in foreground]),
        "mean_iou": _mean([cls["iou"] for cls in foreground]),
        "classes": classes,
        "cases": [
            {
                "case": pair.stem,
                "dice": [_or_none(v) for v in dice[i]],
                "iou": [_or_none(v) for v in iou[i]],
                "mean_dice": _mean([_or_none(v) for v in dice[i, 1:]]),
            }
            for i, pair in enumerate(pairs)
        ],
    }
    if surface:
        report["mean_hd95"] = _mean([cls["hd95"] for cls in foreground])
        report["mean_asd"] = _mean([cls["asd"] for cls in foreground])
        report["distance_unit"] = units.pop() if len(units) == 1 else "mixed"
        report["empty_class_rule"] = EMPTY_CLASS_RULE
        for i, case in enumerate(report["cases"]):
            case["hd95"] = [_or_none(v) for v in hd95[i]]
            case["asd"] = [_or_none(v) for v in asd[i]]
    if out_json is not None:
        out_json = Path(out_json)
        text = json.dumps(report, indent=2, allow_nan=False)
        atomic_write(out_json, lambda tmp: tmp.write_text(text + "\n"))
        atomic_write(out_json.with_suffix(".csv"), lambda tmp: tmp.write_text(_csv(report)))
    return report


def _csv(report: dict) -> str:
    """Per-case table: case, dice_<c>, iou_<c> for each class, mean_dice, then hd95_<c>, asd_<c>
    for each foreground class when the report has surface distances (blank for NaN)."""

    def cell(value: float | None) -> str:
        return "" if value is None else f"{value:.6f}"

    classes = range(report["num_classes"])
    overlap = [(m, c) for c in classes for m in ("dice", "iou")]
    distance = (
        [(m, c) for c in classes[1:] for m in ("hd95", "asd")] if "mean_hd95" in report else []
    )
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    header = [*(f"{m}_{c}" for m, c in overlap), "mean_dice", *(f"{m}_{c}" for m, c in distance)]
    writer.writerow(["case", *header])
    for case in report["cases"]:
        scores = [cell(case[m][c]) for m, c in overlap]
        distances = [cell(case[m][c]) for m, c in distance]
        writer.writerow([case["case"], *scores, cell(case["mean_dice"]), *distances])
    return buffer.getvalue()
