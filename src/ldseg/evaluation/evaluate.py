"""Score predicted masks against truth masks (read with the run's data settings, as training
reads them); write JSON and CSV; the Markdown summary table."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

import numpy as np

from ldseg.config import DataConfig
from ldseg.data.cases import read_truth
from ldseg.data.pairing import Pair, list_masks, pair_files
from ldseg.data.readers import read_mask
from ldseg.errors import DataError
from ldseg.evaluation.metrics import (
    CaseScores,
    as_number,
    class_statistics,
    foreground_mean,
)
from ldseg.evaluation.surface import EMPTY_CLASS_RULE, surface_distances
from ldseg.utils import atomic_write_text, fmt

# More inferred classes than this looks like an 8-bit mask read as labels (0/255, or JPEG).
EIGHT_BIT_LOOKING = 128


def pair_folders(pred_dir: str | Path, truth_dir: str | Path) -> list[Pair]:
    """(prediction, truth) pairs of a folder of predicted masks (named by image stem) and a
    folder of truth masks; unpaired files raise."""
    preds, truths = list_masks(pred_dir), list_masks(truth_dir)
    return pair_files(preds, truths, f"{pred_dir} vs {truth_dir}", ("prediction", "truth mask"))


def evaluate_masks(
    pairs: list[Pair],
    num_classes: int | None = None,
    out_json: str | Path | None = None,
    class_names: list[str] | None = None,
    surface: bool = False,
    data: DataConfig | None = None,
) -> dict:
    """Per-case and per-class Dice/IoU of (prediction ``image``, truth ``mask``) pairs.

    Truth masks are read with ``data``'s ``binarize`` and ``class_mapping`` (a run's data
    settings; default: neither), predictions as the class indices they hold.

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
    truths = [read_truth(pair.mask, data) for pair in pairs]
    masks = [(read_mask(pair.image), truth) for pair, (truth, _) in zip(pairs, truths, strict=True)]
    if num_classes is None:
        num_classes = max(2, 1 + max(int(max(p.max(), t.max())) for p, t in masks))
        if (data is None or data.binarize is None) and num_classes > EIGHT_BIT_LOOKING:
            where = next(pair.mask for pair, (_, t) in zip(pairs, masks, strict=True) if t.size)
            print(
                f"ldseg: warning: label values up to {num_classes - 1} (e.g. {where}) are scored "
                f"as {num_classes} classes; for 8-bit masks (JPEG, 0/255) give --binarize 127 "
                "(or data.binarize in the run), else --classes N",
                file=sys.stderr,
            )
    if class_names is not None and len(class_names) != num_classes:
        raise ValueError(f"{len(class_names)} class names for {num_classes} classes")
    scores = CaseScores(num_classes, iou=True)
    hd95 = np.empty((len(pairs), num_classes))
    asd = np.empty((len(pairs), num_classes))
    units = set()
    for i, (pair, (pred, truth)) in enumerate(zip(pairs, masks, strict=True)):
        try:
            scores.add(pred, truth)
        except DataError as err:
            raise DataError(f"{pair.image} vs {pair.mask.name}: {err}") from err
        if surface:
            meta = truths[i][1]
            units.add("mm" if meta["kind"] == "volume" else "pixel")
            hd95[i], asd[i] = surface_distances(pred, truth, num_classes, meta["spacing"])
    dice, iou = scores.dice, scores.iou

    (dice_mean, dice_std, counts), (iou_mean, iou_std, _) = map(class_statistics, (dice, iou))
    distances = {"hd95": class_statistics(hd95), "asd": class_statistics(asd)} if surface else {}

    def fg_mean(values: np.ndarray) -> float | None:
        return as_number(foreground_mean(values))

    classes = {}
    for c in range(num_classes):
        classes[str(c)] = {
            "name": class_names[c] if class_names else None,
            "dice": as_number(dice_mean[c]),
            "iou": as_number(iou_mean[c]),
            "dice_std": as_number(dice_std[c]),
            "iou_std": as_number(iou_std[c]),
            "num_cases": int(counts[c]),
        }
        for name, (means, stds, _) in distances.items():
            classes[str(c)] |= {name: as_number(means[c]), f"{name}_std": as_number(stds[c])}
    report = {
        "num_cases": len(pairs),
        "num_classes": num_classes,
        "class_names": list(class_names) if class_names else None,
        "mean_dice": fg_mean(dice_mean),
        "mean_iou": fg_mean(iou_mean),
        "classes": classes,
        "cases": [
            {
                "case": pair.stem,
                "dice": [as_number(v) for v in dice[i]],
                "iou": [as_number(v) for v in iou[i]],
                "mean_dice": fg_mean(dice[i]),
            }
            for i, pair in enumerate(pairs)
        ],
    }
    if surface:
        report["mean_hd95"] = fg_mean(distances["hd95"][0])
        report["mean_asd"] = fg_mean(distances["asd"][0])
        report["distance_unit"] = units.pop() if len(units) == 1 else "mixed"
        report["empty_class_rule"] = EMPTY_CLASS_RULE
        for i, case in enumerate(report["cases"]):
            case["hd95"] = [as_number(v) for v in hd95[i]]
            case["asd"] = [as_number(v) for v in asd[i]]
    if out_json is not None:
        out_json = Path(out_json)
        atomic_write_text(out_json, json.dumps(report, indent=2, allow_nan=False) + "\n")
        atomic_write_text(out_json.with_suffix(".csv"), _csv(report))
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


def format_report(report: dict) -> str:
    """A Markdown table of per-class Dice and IoU and their foreground means."""
    lines = ["| class | name | Dice | IoU |", "|---|---|---|---|"]
    for index, cls in report["classes"].items():
        lines.append(
            f"| {index} | {cls.get('name') or ''} | {fmt(cls['dice'])} | {fmt(cls['iou'])} |"
        )
    lines.append(f"| fg mean | | {fmt(report['mean_dice'])} | {fmt(report['mean_iou'])} |")
    return "\n".join(lines)
