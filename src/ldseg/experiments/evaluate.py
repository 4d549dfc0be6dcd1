"""The accuracy table: segment a test set, score it (Dice, IoU, HD95, ASD) and write the report."""

from __future__ import annotations

import time
from pathlib import Path

from ldseg.data.formats import file_stem, mask_suffix
from ldseg.data.pairing import Pair
from ldseg.evaluation import evaluate_masks
from ldseg.evaluation.report import write_html_report
from ldseg.experiments.common import CaseSelection, run_label
from ldseg.experiments.results import ResultsFolder
from ldseg.inference import Predictor, SamplingOptions
from ldseg.utils import fmt


def run_evaluate(
    run: str | Path,
    cases: CaseSelection,
    out: ResultsFolder,
    sampling: SamplingOptions | None = None,
    weights: str = "best",
) -> dict:
    """Predict every image of the cases into ``predictions/`` as ``ldseg predict`` does and
    score the written masks as ``ldseg evaluate`` does (``evaluate_masks``: truths read with
    the run's data settings, surface distances in the files' units); write
    ``evaluation.json``, the per-case ``evaluation.csv``, ``report.html`` and
    ``results.json``."""
    sampling = sampling or SamplingOptions()
    predictor = Predictor.from_run(run, weights)
    config = predictor.config
    pairs = cases.pairs(config.data)
    predictions = out.file("predictions")
    start = time.perf_counter()
    images = [p.image for p in pairs]
    predictor.predict_files(
        images,
        predictions,
        steps=sampling.steps,
        sampler=sampling.sampler,
        seed=sampling.seed,
        samples=sampling.samples,
        tta=sampling.tta,
    )
    per_image = (time.perf_counter() - start) / len(pairs)
    scored = [
        Pair(predictions / f"{file_stem(p.image)}{mask_suffix(p.image)}", p.mask, p.stem)
        for p in pairs
    ]
    report = evaluate_masks(
        scored,
        predictor.model.num_classes,
        out.file("evaluation.json"),
        config.data.class_names,
        surface=True,
        data=config.data,
    )
    sources = {p.stem: (p.image, s.image, p.mask) for p, s in zip(pairs, scored, strict=True)}
    title = f"LDSeg evaluation: {run_label(run)} on {Path(cases.data).name}"
    html = write_html_report(
        report, out.file("report.html"), sources, title, out.command, config.data
    )
    summary = {key: value for key, value in report.items() if key != "cases"}
    configured = config.sampling
    results = {
        "run": str(run),
        "data": str(cases.data),
        "steps": sampling.steps or configured.steps,
        "sampler": sampling.sampler or configured.sampler,
        "seed": sampling.seed,
        "seconds_per_image": per_image,
        **summary,
    }
    print(
        f"{report['num_cases']} cases: Dice {fmt(report['mean_dice'])}, IoU "
        f"{fmt(report['mean_iou'])}, HD95 {fmt(report['mean_hd95'], 2)} {report['distance_unit']}"
        f"; report {html}"
    )
    out.write("evaluate", results, [html])
    return results
