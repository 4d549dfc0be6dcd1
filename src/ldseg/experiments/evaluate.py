"""The accuracy table: segment a test set, score it (Dice, IoU, HD95, ASD) and write the report."""

from __future__ import annotations

import time
from pathlib import Path

from ldseg.data.io import find_pairs
from ldseg.evaluation import evaluate_folders
from ldseg.evaluation.report import write_html_report
from ldseg.experiments.common import fmt, run_label
from ldseg.experiments.results import write_results
from ldseg.inference import Predictor


def run_evaluate(
    run: str | Path,
    data: str | Path,
    out_dir: str | Path,
    steps: int | None = None,
    sampler: str | None = None,
    seed: int = 0,
    weights: str = "best",
    command: str | None = None,
) -> dict:
    """Predict every image of ``data`` into ``out_dir/predictions``; write ``evaluation.json``,
    the per-case ``evaluation.csv``, ``report.html`` and ``results.json``."""
    out_dir = Path(out_dir)
    predictor = Predictor.from_run(run, weights)
    pairs = find_pairs(data)
    predictions = out_dir / "predictions"
    start = time.perf_counter()
    predictor.predict_files([p.image for p in pairs], predictions, steps, sampler, seed)
    per_image = (time.perf_counter() - start) / len(pairs)
    names = predictor.config.data.class_names
    num_classes = predictor.model.num_classes
    report = evaluate_folders(
        predictions, data, num_classes, out_dir / "evaluation.json", names, surface=True
    )
    title = f"LDSeg evaluation: {run_label(run)} on {Path(data).name}"
    html = write_html_report(
        report, out_dir / "report.html", data, predictions, data, title, command
    )
    summary = {key: value for key, value in report.items() if key != "cases"}
    sampling = predictor.config.sampling
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
