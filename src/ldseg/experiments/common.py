"""What the experiments share: test cases, batched segmentation, Dice summaries, timing, figures."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ldseg.data.io import find_pairs, read_image, read_mask
from ldseg.data.transforms import resize_probabilities
from ldseg.errors import DataError
from ldseg.evaluation.metrics import dice_iou
from ldseg.inference import Predictor
from ldseg.utils import atomic_write


@dataclass
class Case:
    """A test image ``(C, *S)`` and its truth mask ``(*S)`` at their original size."""

    stem: str
    image: np.ndarray
    truth: np.ndarray


def load_cases(data_dir: str | Path, max_cases: int | None = None) -> list[Case]:
    """The first ``max_cases`` (all by default) image/mask pairs of a dataset folder."""
    pairs = find_pairs(data_dir)[:max_cases]
    cases = []
    for pair in pairs:
        image, truth = read_image(pair.image)[0], read_mask(pair.mask)
        if image.shape[1:] != truth.shape:
            raise DataError(f"{pair.mask}: shape {truth.shape} != image {image.shape[1:]}")
        cases.append(Case(pair.stem, image, truth))
    return cases


def preprocess_cases(predictor: Predictor, cases: Sequence[Case]) -> torch.Tensor:
    """The cases' images normalised and resized to the run's size, stacked ``(N, C, *size)``."""
    return torch.stack([predictor.preprocess(case.image, case.stem) for case in cases])


def segment(
    predictor: Predictor,
    images: torch.Tensor,
    cases: Sequence[Case],
    steps: int | None = None,
    sampler: str | None = None,
    seed: int = 0,
) -> list[np.ndarray]:
    """Masks at each case's original size from preprocessed ``images`` (batched sampling)."""
    probs = predictor.sample_batch(images, steps, sampler, [seed])
    return [
        resize_probabilities(p, case.truth.shape).argmax(0).numpy()
        for p, case in zip(probs, cases, strict=True)
    ]


def dice_summary(
    masks: Sequence[np.ndarray], cases: Sequence[Case], num_classes: int
) -> dict[str, float | list]:
    """Per-class Dice (NaN-excluding mean over cases) and its foreground mean, as
    ``ldseg evaluate`` aggregates them; None where no case has the class."""
    dice = np.array(
        [dice_iou(m, c.truth, num_classes)[0] for m, c in zip(masks, cases, strict=True)]
    )
    counts = (~np.isnan(dice)).sum(0)
    per_class = [float(np.nanmean(d)) if n else None for d, n in zip(dice.T, counts, strict=True)]
    foreground = [d for d in per_class[1:] if d is not None]
    mean = float(np.mean(foreground)) if foreground else None
    return {"mean_dice": mean, "class_dice": per_class}


def median_seconds(fn: Callable[[], object], repeats: int = 3, warmup: int = 1) -> dict:
    """Wall time of ``fn()`` by ``time.perf_counter``: median of ``repeats`` after ``warmup``."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return {"median_s": statistics.median(times), "times_s": times}


def fmt(value: float | None, digits: int = 4) -> str:
    """A number for printing, "n/a" for None."""
    return "n/a" if value is None else f"{value:.{digits}f}"


def run_label(run_dir: str | Path) -> str:
    """A short name for a run in legends: its folder name (with the parent if generic)."""
    path = Path(run_dir).resolve()
    return f"{path.parent.name}/{path.name}" if path.name in ("run", "runs") else path.name


def save_figure(fig: Figure, path: str | Path, dpi: int = 110) -> Path:
    """Render a matplotlib figure (Agg, no display) to a PNG atomically."""
    FigureCanvasAgg(fig)
    return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=dpi))
