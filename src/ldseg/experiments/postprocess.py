"""Recompute a run's largest-component post-processing on a labelled set (e.g. its validation
cases at their own size, or after more training) and write it to the run's
``postprocessing.json``."""

from __future__ import annotations

from pathlib import Path

from ldseg.evaluation.postprocess import decide_postprocessing
from ldseg.experiments.common import preprocess_cases, run_cases, segment
from ldseg.experiments.results import write_results
from ldseg.inference import Predictor
from ldseg.runs import RunFolder


def run_postprocess(
    run: str | Path,
    data: str | Path,
    out_dir: str | Path,
    steps: int | None = None,
    sampler: str | None = None,
    seed: int = 0,
    max_cases: int | None = None,
    weights: str = "best",
    split: str = "val",
    command: str | None = None,
) -> dict:
    """Segment ``split`` of ``data`` (read with the run's data settings) as ``predict --seed``
    does, without post-processing, at each case's own size; decide whether keeping only the
    largest foreground region, then per foreground class its largest connected component,
    raises the mean Dice (``decide_postprocessing``); write the decision to
    the run's ``postprocessing.json`` and ``results.json``."""
    predictor = Predictor.from_run(run, weights, postprocess=False)
    cases = run_cases(predictor, data, split, max_cases)
    masks = segment(predictor, preprocess_cases(predictor, cases), cases, steps, sampler, seed)
    decision = decide_postprocessing(masks, [c.mask for c in cases], predictor.model.num_classes)
    folder = RunFolder(run)
    folder.write_postprocessing(decision, weights)
    print(
        f"{len(cases)} cases: keep the largest component of classes (0: the foreground) "
        f"{decision['keep_largest_component'] or 'none'}; written to {folder.postprocessing_path}"
    )
    results = {"run": str(run), "data": str(data), "weights": weights, "seed": seed, **decision}
    write_results(Path(out_dir), "postprocess", results, [], command)
    return results
