"""Dice against Gaussian noise added to the normalised test images (the paper's Figure 8)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import torch
from matplotlib.figure import Figure

from ldseg.errors import LDSegError
from ldseg.evaluation.overlay import save_figure
from ldseg.experiments.common import CaseSelection, run_label
from ldseg.experiments.results import ResultsFolder
from ldseg.inference import Predictor, SamplingOptions
from ldseg.inference.scoring import segment_and_score
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
    cases: CaseSelection,
    out: ResultsFolder,
    sigmas: Sequence[float] = DEFAULT_SIGMAS,
    sampling: SamplingOptions | None = None,
    weights: str = "best",
) -> dict:
    """Segment the test cases (read with each run's data settings) with N(0, sigma) added to
    every normalised, resized image, for each sigma and run; write ``noise.png`` and
    ``results.json``.

    The noise field of a case is one standard-normal draw (seeded by ``sampling.seed``)
    scaled by sigma, so the curves differ only in sigma; images are not clipped after adding
    it.
    """
    sampling = sampling or SamplingOptions()
    curves = []
    for run in runs:
        predictor = Predictor.from_run(run, weights)
        read = cases.cases(predictor.config.data)
        inputs = [predictor.adapter.case_inputs(case) for case in read]
        if len({case.images.shape for case in inputs}) > 1:
            raise LDSegError(f"{run}: the noise experiment needs a run that resizes its images")
        clean = torch.stack([case.images for case in inputs])
        generator = torch.Generator().manual_seed(sampling.seed)
        unit = torch.randn(clean.shape, generator=generator)
        rows = []
        for sigma in sorted(set(sigmas)):
            noisy = clean + sigma * unit
            perturbed = [replace(case, images=noisy[i]) for i, case in enumerate(inputs)]
            scores = segment_and_score(predictor, perturbed, sampling).summary()
            rows.append({"sigma": sigma, **scores})
            print(f"{run_label(run)}  sigma={sigma:.3f}  Dice {fmt(rows[-1]['mean_dice'])}")
        configured = predictor.config.sampling
        curves.append(
            {
                "run": str(run),
                "label": run_label(run),
                "steps": sampling.steps or configured.steps,
                "sampler": sampling.sampler or configured.sampler,
                "rows": rows,
            }
        )
    results = {
        "data": str(cases.data),
        "num_cases": len(read),
        "seed": sampling.seed,
        "curves": curves,
    }
    figure = plot_noise(curves, out.file("noise.png"))
    out.write("noise", results, [figure])
    return results
