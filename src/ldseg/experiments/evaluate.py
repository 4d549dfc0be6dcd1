"""The accuracy table: segment a test set, score it (Dice, IoU, HD95, ASD) and write the report."""

from __future__ import annotations

import time
from pathlib import Path

from ldseg.data.formats import file_stem, mask_suffix
from ldseg.data.layouts import discover
from ldseg.data.pairing import Pair
from ldseg.evaluation import evaluate_masks
from ldseg.evaluation.report import write_html_report
from ldseg.experiments.common import run_label
from ldseg.experiments.results import write_results
from ldseg.inference import Predictor
from ldseg.utils import fmt


def run_evaluate(
    run: str | Path,
    data: str | Path,
    out_dir: str | Path,
    steps: int | None = None,
    sampler: str | None = None,
    seed: int = 0,
    weights: str = "best",
    split: str = "val",
    command: str | None = None,
) -> dict:
    """Predict every image of ``split`` of ``data`` (read with the run's data settings) into
    ``out_dir/predictions``; write ``evaluation.json``, the per-case ``evaluation.csv``,
    ``report.html`` and ``results.json``."""
    out_dir = Path(out_dir)
    predictor = Predictor.from_run(run, weights)
    config = predictor.config
    pairs = discover(data, config.data.layout).pairs(split)
    predictions = out_dir / "predictions"
    start = time.perf_counter()
    images = [p.image for p in pairs]
    predictor.predict_files(images, predictions, steps=steps, sampler=sampler, seed=seed)
    per_image = (time.perf_counter() - start) / len(pairs)
    scored = [
        Pair(predictions / f"{file_stem(p.image)}{mask_suffix(p.image)}", p.mask, p.stem)
        for p in pairs
    ]
    report = evaluate_masks(
        scored,
        predictor.model.num_classes,
        out_dir / "evaluation.json",
        config.data.class_names,
        surface=True,
        data=config.data,
    )
    sources = {p.stem: (p.image, s.image, p.mask) for p, s in zip(pairs, scored, strict=True)}
    title = f"LDSeg evaluation: {run_label(run)} on {Path(data).name}"
    html = write_html_report(report, out_dir / "report.html", sources, title, command, config.data)
    summary = {key: value for key, value in report.items() if key != "cases"}
    sampling = config.sampling
    results = {
        "run": str(run),
        "data": str(data),
        "steps": steps or sampling.steps,
        "sampler": sampler or sampling.sampler,
        "seed": seed,
        "seconds_per_image": per_image,
        **summary,
    }
    print(
        f"{report['num_cases']} cases: Dice {fmt(report['mean_dice'])}, IoU "
        f"{fmt(report['mean_iou'])}, HD95 {fmt(report['mean_hd95'], 2)} {report['distance_unit']}"
        f"; report {html}"
    )
    write_results(out_dir, "evaluate", results, [html], command)
    return results
