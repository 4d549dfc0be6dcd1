"""Uncertainty from repeated sampling: maps, and whether the SD points at errors (Figure 10).

A pixel's uncertainty is the standard deviation over samples of the probability of its
predicted class (the argmax of the mean probabilities). Two numbers say whether it is useful,
pooled over every pixel of every test case: the area under the ROC curve of the SD as a
score separating wrong pixels from right ones (0.5 = no better than chance), and the expected
calibration error of the mean probabilities (15 equal-width confidence bins).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ldseg.evaluation.metrics import as_number, foreground_mean
from ldseg.evaluation.overlay import draw_overlay, middle_slice, save_figure
from ldseg.experiments.common import CaseSelection, run_label
from ldseg.experiments.results import ResultsFolder
from ldseg.inference import Prediction, Predictor, SamplingOptions
from ldseg.inference.scoring import segment_and_score
from ldseg.utils import fmt

ECE_BINS = 15
DEFAULT_SAMPLES = 20


def roc_curve(scores: np.ndarray, positive: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """False and true positive rates over all thresholds of ``scores`` (ties kept together) and
    the area under the curve (NaN when either class is missing)."""
    order = np.argsort(-scores, kind="stable")
    scores, positive = scores[order], positive[order]
    ends = np.r_[np.flatnonzero(np.diff(scores)), scores.size - 1]
    tp = np.r_[0, np.cumsum(positive)[ends]]
    fp = np.r_[0, ends + 1 - tp[1:]]
    if not tp[-1] or not fp[-1]:
        return fp.astype(float), tp.astype(float), float("nan")
    fpr, tpr = fp / fp[-1], tp / tp[-1]
    return fpr, tpr, float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))


def calibration(
    confidence: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS
) -> tuple[float, list[dict]]:
    """Expected calibration error and per-bin (confidence, accuracy, count) over equal bins."""
    index = np.minimum((confidence * bins).astype(int), bins - 1)
    counts = np.bincount(index, minlength=bins)
    conf_sum = np.bincount(index, confidence, minlength=bins)
    acc_sum = np.bincount(index, correct.astype(float), minlength=bins)
    table = [
        {"low": b / bins, "high": (b + 1) / bins, "count": int(n)}
        | {"confidence": float(c / n), "accuracy": float(a / n)}
        for b, (n, c, a) in enumerate(zip(counts, conf_sum, acc_sum, strict=True))
        if n
    ]
    ece = sum(row["count"] * abs(row["accuracy"] - row["confidence"]) for row in table)
    return float(ece / max(confidence.size, 1)), table


def _map_panel(fig: Figure, ax, values: np.ndarray, title: str, cmap: str, vmax: float) -> None:
    shown = ax.imshow(values, cmap=cmap, vmin=0, vmax=vmax, interpolation="nearest")
    fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.02)
    ax.set_title(title, fontsize=9)
    ax.set_axis_off()


def plot_maps(examples: Sequence[dict], path: Path) -> Path:
    """Per example case: image with truth, mean prediction, mean foreground probability, SD and
    errors (a row each; 3D shows the middle slice along the last axis)."""
    fig = Figure(figsize=(15, 3.1 * len(examples)), layout="constrained")
    axes = fig.subplots(len(examples), 5, squeeze=False)
    vmax = max(float(e["std"].max()) for e in examples) or 1.0
    for row, e in zip(axes, examples, strict=True):
        flat = middle_slice if e["truth"].ndim == 3 else np.asarray
        truth = e["truth"]
        draw_overlay(row[0], e["image"], np.zeros_like(truth), truth, f"{e['stem']}: truth")
        draw_overlay(row[1], e["image"], e["mask"], None, f"mean of samples, Dice {e['dice']:.3f}")
        _map_panel(fig, row[2], flat(e["foreground"]), "mean P(foreground)", "magma", 1.0)
        _map_panel(fig, row[3], flat(e["std"]), "SD over samples", "viridis", vmax)
        wrong = flat((e["mask"] != e["truth"]).astype(float))
        _map_panel(fig, row[4], wrong, "wrong pixels", "gray", 1.0)
    fig.suptitle("Uncertainty from repeated sampling (contours: truth)")
    return save_figure(fig, path, dpi=90)


def plot_roc_calibration(
    fpr: np.ndarray, tpr: np.ndarray, auc: float, ece: float, table: list[dict], path: Path
) -> Path:
    """ROC curve of the SD (wrong vs right pixels) and the reliability diagram of the mean."""
    fig = Figure(figsize=(10, 4.2), layout="constrained")
    roc_ax, rel_ax = fig.subplots(1, 2)
    roc_ax.plot(fpr, tpr, color="#0072B2", label=f"SD as error score (AUROC {auc:.3f})")
    roc_ax.plot([0, 1], [0, 1], ":", color="gray", label="chance")
    roc_ax.set_xlabel("false positive rate (right pixels flagged)")
    roc_ax.set_ylabel("true positive rate (wrong pixels flagged)")
    roc_ax.set_title("Does the SD point at errors?")
    centres = [(row["low"] + row["high"]) / 2 for row in table]
    width = table[0]["high"] - table[0]["low"] if table else 0.1
    accuracy = [row["accuracy"] for row in table]
    label = f"accuracy per bin (ECE {ece:.4f})"
    rel_ax.bar(centres, accuracy, width=width * 0.9, color="#56B4E9", label=label)
    rel_ax.plot([0, 1], [0, 1], ":", color="gray", label="perfect calibration")
    rel_ax.set_xlabel("confidence (max mean probability)")
    rel_ax.set_ylabel("accuracy")
    rel_ax.set_title("Calibration of the mean probabilities")
    for ax in (roc_ax, rel_ax):
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.01)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="lower right")
    return save_figure(fig, path)


def run_uncertainty(
    run: str | Path,
    cases: CaseSelection,
    out: ResultsFolder,
    sampling: SamplingOptions | None = None,
    num_examples: int = 4,
    weights: str = "best",
) -> dict:
    """Sample every test case ``sampling.samples`` times, one case at a time; measure AUROC of
    the SD for errors and the ECE of the mean; write ``uncertainty_maps.png``,
    ``uncertainty_roc.png`` and ``results.json`` (default: ``DEFAULT_SAMPLES`` samples)."""
    sampling = sampling or SamplingOptions(samples=DEFAULT_SAMPLES)
    predictor = Predictor.from_run(run, weights)
    read = cases.cases(predictor.config.data)
    stds, wrongs, confidences, examples = [], [], [], {}
    shown = set(np.linspace(0, len(read) - 1, min(num_examples, len(read))).round().astype(int))

    def collect(position: int, pred: Prediction) -> None:
        case = read[position]
        wrong = pred.mask != case.mask
        stds.append(pred.std.ravel())
        wrongs.append(wrong.ravel())
        confidences.append(pred.probabilities.max(0).ravel())
        if position in shown:
            maps = {"foreground": 1 - pred.probabilities[0], "std": pred.std}
            examples[position] = {
                "stem": case.stem,
                "image": case.image,
                "truth": case.mask,
                "mask": pred.mask,
            } | maps

    inputs = map(predictor.adapter.case_inputs, read)
    scored = segment_and_score(predictor, inputs, sampling, batching="case", each=collect)
    for position, example in examples.items():
        example["dice"] = as_number(foreground_mean(scored.scores.dice[position])) or 0.0
    std, wrong = np.concatenate(stds), np.concatenate(wrongs)
    fpr, tpr, auc = roc_curve(std, wrong)
    ece, table = calibration(np.concatenate(confidences), ~wrong)
    results = {
        "run": str(run),
        "data": str(cases.data),
        "num_cases": len(read),
        "samples": sampling.samples,
        "steps": sampling.steps or predictor.config.sampling.steps,
        "sampler": sampling.sampler or predictor.config.sampling.sampler,
        "seed": sampling.seed,
        "uncertainty": "per-pixel SD over samples of the predicted class's probability",
        "auroc_sd_for_errors": None if np.isnan(auc) else auc,
        "ece": ece,
        "error_rate": float(wrong.mean()),
        "mean_sd_wrong": float(std[wrong].mean()) if wrong.any() else None,
        "mean_sd_right": float(std[~wrong].mean()) if (~wrong).any() else None,
        **scored.summary(),
        "calibration_bins": table,
    }
    print(
        f"{run_label(run)}: {sampling.samples} samples, Dice of the mean "
        f"{fmt(results['mean_dice'])}, AUROC(SD, errors) {auc:.4f}, ECE {ece:.4f}"
    )
    figures = [
        plot_maps(list(examples.values()), out.file("uncertainty_maps.png")),
        plot_roc_calibration(fpr, tpr, auc, ece, table, out.file("uncertainty_roc.png")),
    ]
    out.write("uncertainty", results, figures)
    return results
