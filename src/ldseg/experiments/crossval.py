"""``ldseg cv-summary``: the cross-validated Dice of the fold runs of one split, each run on its
own fold's validation cases, pooled over the folds."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ldseg.data.cases import read_cases
from ldseg.data.pairing import Pair
from ldseg.errors import LDSegError
from ldseg.evaluation.metrics import as_number, dice_summary
from ldseg.inference import Predictor, SamplingOptions
from ldseg.inference.scoring import segment_and_score
from ldseg.runs import RunFolder
from ldseg.utils import atomic_write_text, fmt


def fold_runs(
    runs: Sequence[Path], data_root: Path | None = None
) -> tuple[int, list[tuple[int, list[Pair]]]]:
    """Check that ``runs`` are distinct folds of one split (the same ``splits.json``, each run
    validated on its fold); the number of folds and each run's fold and validation pairs."""
    first, found, seen = None, [], {}
    for run in runs:
        folder = RunFolder(run)
        config = folder.load_config()
        if not config.data.folds:
            raise LDSegError(f"{run}: not a cross-validation run (train --folds)")
        splits, (_, val) = folder.load_splits(data_root), folder.data_lists(data_root)
        if len(splits) != config.data.folds:
            folds = config.data.folds
            raise LDSegError(f"{folder.splits_path}: {len(splits)} folds, the config {folds}")
        if first is None:
            first = (folder.splits_path, splits)
        elif splits != first[1]:
            raise LDSegError(f"{folder.splits_path}: differs from {first[0]} (not one split)")
        fold = config.data.fold
        if fold in seen:
            raise LDSegError(f"{run}: fold {fold} again ({seen[fold]} is fold {fold})")
        if sorted(p.stem for p in val) != sorted(splits[fold]["val"]):
            raise LDSegError(f"{folder.data_path}: its validation cases are not fold {fold}'s")
        seen[fold] = run
        found.append((fold, val))
    return len(first[1]) if first else 0, found


def cv_summary(
    runs: Sequence[Path],
    out: Path,
    sampling: SamplingOptions | None = None,
    weights: str = "best",
    data_root: Path | None = None,
) -> dict:
    """Segment each fold's validation cases with its run (read with the run's data settings,
    ``sampling``'s noise as ``predict`` draws it) and write ``out``: per-class Dice pooled over
    every fold's cases (the mean over cases), per fold, and per case."""
    sampling = sampling or SamplingOptions()
    folds, found = fold_runs(runs, data_root)
    rows, cases, pooled, names = [], [], [], None
    for run, (fold, val) in zip(runs, found, strict=True):
        predictor = Predictor.from_run(run, weights)
        data, classes = predictor.config.data, predictor.model.num_classes
        if pooled and pooled[0].shape[1] != classes:
            raise LDSegError(f"{run}: {classes} classes, the other folds {pooled[0].shape[1]}")
        names = names or data.class_names
        read = read_cases(val, data, classes)
        scored = segment_and_score(predictor, map(predictor.adapter.case_inputs, read), sampling)
        pooled.append(scored.scores.dice)
        summary = scored.summary()
        rows.append({"run": str(run), "fold": fold, "num_cases": len(scored.stems), **summary})
        for stem, score in zip(scored.stems, scored.scores.dice, strict=True):
            cases.append({"stem": stem, "fold": fold, "dice": [as_number(d) for d in score]})
    result = {
        "folds": folds,
        "missing_folds": sorted(set(range(folds)) - {row["fold"] for row in rows}),
        "class_names": names,
        "num_cases": len(cases),
        **dice_summary(np.concatenate(pooled) if pooled else []),
        "runs": sorted(rows, key=lambda row: row["fold"]),
        "cases": cases,
    }
    atomic_write_text(Path(out), json.dumps(result, indent=2, allow_nan=False) + "\n")
    return result


def cv_table(result: dict) -> str:
    """Markdown: one row per fold and the pooled row, Dice per foreground class and the mean."""
    classes = len(result["class_dice"])
    names = result["class_names"] or [str(c) for c in range(classes)]
    head = ["fold", "cases", *(f"Dice {n}" for n in names[1:]), "mean Dice"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in [*result["runs"], {**result, "fold": "pooled"}]:
        cells = [str(row["fold"]), str(row["num_cases"]), *map(fmt, row["class_dice"][1:])]
        lines.append("| " + " | ".join([*cells, fmt(row["mean_dice"])]) + " |")
    return "\n".join(lines)
