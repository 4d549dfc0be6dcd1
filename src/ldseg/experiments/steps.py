"""Dice and time per image against the number of sampling steps K (the paper's Figure 5)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from matplotlib.figure import Figure

from ldseg.evaluation.overlay import save_figure
from ldseg.experiments.common import CaseSelection, run_label
from ldseg.experiments.measure import median_seconds
from ldseg.experiments.results import ResultsFolder
from ldseg.inference import Predictor, SamplingOptions
from ldseg.inference.scoring import segment_and_score
from ldseg.utils import fmt

DEFAULT_STEPS = (1, 2, 5, 10, 20, 50, 100, 1000)


def steps_gap(rows: Sequence[dict], few: int = 2, many: int = 50) -> float | None:
    """Mean Dice at K = ``few`` minus at K = ``many`` (None unless both were measured)."""
    dice = {row["steps"]: row["mean_dice"] for row in rows}
    if dice.get(few) is None or dice.get(many) is None:
        return None
    return dice[few] - dice[many]


def plot_steps(rows: Sequence[dict], label: str, path: Path) -> Path:
    """Dice (left axis) and seconds per image (right axis) against K on a log axis."""
    fig = Figure(figsize=(6.4, 4.2), layout="constrained")
    ax = fig.add_subplot()
    ks = [row["steps"] for row in rows]
    dice = [row["mean_dice"] for row in rows]
    (dice_line,) = ax.plot(ks, dice, "o-", color="#0072B2", label=f"Dice ({label})")
    ax.set_xscale("log")
    ax.set_xticks(ks, [str(k) for k in ks], minor=False)
    ax.minorticks_off()
    ax.set_xlabel("sampling steps K (log scale)")
    ax.set_ylabel("mean foreground Dice")
    ax.grid(True, which="both", alpha=0.3)
    right = ax.twinx()
    seconds = [row["seconds_per_image"] for row in rows]
    (time_line,) = right.plot(ks, seconds, "s--", color="#D55E00", label="time per image")
    right.set_yscale("log")
    right.set_ylabel("seconds per image (log scale)")
    ax.legend(handles=[dice_line, time_line], loc="lower right")
    gap = steps_gap(rows)
    gap_text = "" if gap is None else f"; Dice(K=2) - Dice(K=50) = {gap:+.4f}"
    ax.set_title(f"{rows[0]['sampler'].upper()} sampling steps{gap_text}", fontsize=10)
    return save_figure(fig, path)


def run_steps(
    run: str | Path,
    cases: CaseSelection,
    out: ResultsFolder,
    ks: Sequence[int] = DEFAULT_STEPS,
    sampling: SamplingOptions | None = None,
    repeats: int = 3,
    weights: str = "best",
) -> dict:
    """Segment the test cases with each K in ``ks`` (``sampling``'s sampler and seed); time
    one image per K (median of ``repeats`` after a warm-up, preprocessing and resizing
    included); write ``steps.png`` and ``results.json``."""
    sampling = sampling or SamplingOptions()
    predictor = Predictor.from_run(run, weights)
    sampler = sampling.sampler or predictor.config.sampling.sampler
    read = cases.cases(predictor.config.data)
    inputs = [predictor.adapter.case_inputs(case) for case in read]
    rows = []
    first = read[0]
    for k in sorted(set(ks)):
        options = replace(sampling, steps=k, sampler=sampler)
        scores = segment_and_score(predictor, inputs, options).summary()
        timing = median_seconds(
            lambda k=k: predictor.predict_array(
                first.image, k, sampler, sampling.seed, spacing=first.spacing
            ),
            repeats,
        )
        row = {"steps": k, "sampler": sampler, **scores}
        rows.append(row | {"seconds_per_image": timing["median_s"], "times_s": timing["times_s"]})
        print(f"K={k:5d}  Dice {fmt(scores['mean_dice'])}  {timing['median_s']:.4f} s/image")
    results = {
        "run": str(run),
        "data": str(cases.data),
        "num_cases": len(read),
        "seed": sampling.seed,
        "timing": f"one image, median of {repeats} after 1 warm-up, preprocessing included",
        "rows": rows,
        "dice_k2_minus_k50": steps_gap(rows),
    }
    figure = plot_steps(rows, run_label(run), out.file("steps.png"))
    out.write("steps", results, [figure])
    return results
