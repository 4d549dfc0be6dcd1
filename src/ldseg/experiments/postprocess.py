"""Recompute a run's largest-component post-processing on a labelled set (e.g. its validation
cases at their own size, or after more training) and write it to the run's
``postprocessing.json``."""

from __future__ import annotations

from pathlib import Path

from ldseg.evaluation.postprocess import decide_postprocessing
from ldseg.experiments.common import CaseSelection
from ldseg.experiments.results import ResultsFolder
from ldseg.inference import Predictor, SamplingOptions
from ldseg.inference.scoring import segment_and_score
from ldseg.runs import RunFolder


def run_postprocess(
    run: str | Path,
    cases: CaseSelection,
    out: ResultsFolder,
    sampling: SamplingOptions | None = None,
    weights: str = "best",
) -> dict:
    """Segment the cases (read with the run's data settings) as ``predict --seed`` does,
    without post-processing, at each case's own size; decide whether keeping only the
    largest foreground region, then per foreground class its largest connected component,
    raises the mean Dice (``decide_postprocessing``); write the decision to the run's
    ``postprocessing.json`` and ``results.json``."""
    sampling = sampling or SamplingOptions()
    predictor = Predictor.from_run(run, weights, postprocess=False)
    read = cases.cases(predictor.config.data)
    inputs = map(predictor.adapter.case_inputs, read)
    scored = segment_and_score(predictor, inputs, sampling, keep_masks=True)
    num_classes = predictor.model.num_classes
    decision = decide_postprocessing(scored.masks, scored.truths, num_classes)
    folder = RunFolder(run)
    folder.write_postprocessing(decision, weights)
    print(
        f"{len(read)} cases: keep the largest component of classes (0: the foreground) "
        f"{decision['keep_largest_component'] or 'none'}; written to {folder.postprocessing_path}"
    )
    results = {
        "run": str(run),
        "data": str(cases.data),
        "weights": weights,
        "seed": sampling.seed,
        **decision,
    }
    out.write("postprocess", results, [])
    return results
