"""Dice against Gaussian noise added to the normalised test images (the paper's Figure 8)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from matplotlib.figure import Figure

from ldseg.errors import LDSegError
from ldseg.evaluation.overlay import save_figure
from ldseg.experiments.common import case_dice, preprocess_cases, run_cases, run_label, segment
from ldseg.experiments.results import write_results
from ldseg.inference import Predictor
from ldseg.utils import fmt

DEFAULT_SIGMAS = (0.0, 0.05, 0.1, 0.15, 0.2)


def plot_noise(curves: Sequence[dict], path: Path) -> Path:
    """Mean foreground Dice against sigma, one curve per run."""
    fig = Figure(figsize=(6.4, 4.2), layout="constrained")
    ax = fig.add_subplot()
    for curve in curves:
        sigmas = [row["sigma"] for row in curve["rows"]]
        ax.plot(sigmas, [row["mean_dice"] for row in curve["rows"]], "o-", label=curve["label"])
    ax.set_xlabel("noise standard deviation σ (added to the normalised image)")
    ax.set_ylabel("mean foreground Dice")
    ax.set_title("Robustness to Gaussian input noise")
    ax.grid(True, alpha=0.3)
    ax.legend(title="run")
    return save_figure(fig, path)


def run_noise(
    runs: Sequence[str | Path],
    data: str | Path,
    out_dir: str | Path,
    sigmas: Sequence[float] = DEFAULT_SIGMAS,
    steps: int | None = None,
    sampler: str | None = None,
    seed: int = 0,
    max_cases: int | None = None,
    weights: str = "best",
    split: str = "val",
    command: str | None = None,
) -> dict:
    """Segment the test set (``split`` of ``data``, read with each run's data settings) with
    N(0, sigma) added to every normalised, resized image, for each sigma and run; write
    ``noise.png`` and ``results.json``.

    The noise field of a case is one standard-normal draw (seeded by ``seed``) scaled by sigma,
    so the curves differ only in sigma; images are not clipped after adding it.
    """
    out_dir = Path(out_dir)
    curves = []
    for run in runs:
        predictor = Predictor.from_run(run, weights)
        cases = run_cases(predictor, data, split, max_cases)
        images = preprocess_cases(predictor, cases)
        if len({image.shape for image in images}) > 1:
            raise LDSegError(f"{run}: the noise experiment needs a run that resizes its images")
        clean = torch.stack(images)
        unit = torch.randn(clean.shape, generator=torch.Generator().manual_seed(seed))
        rows = []
        for sigma in sorted(set(sigmas)):
            masks = segment(predictor, clean + sigma * unit, cases, steps, sampler, seed)
            rows.append({"sigma": sigma, **case_dice(masks, cases, predictor.model.num_classes)})
            print(f"{run_label(run)}  sigma={sigma:.3f}  Dice {fmt(rows[-1]['mean_dice'])}")
        sampling = predictor.config.sampling
        curves.append(
            {
                "run": str(run),
                "label": run_label(run),
                "steps": steps or sampling.steps,
                "sampler": sampler or sampling.sampler,
                "rows": rows,
            }
        )
    results = {"data": str(data), "num_cases": len(cases), "seed": seed, "curves": curves}
    figure = plot_noise(curves, out_dir / "noise.png")
    write_results(out_dir, "noise", results, [figure], command)
    return results
