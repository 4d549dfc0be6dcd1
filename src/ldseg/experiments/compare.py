"""``ldseg compare``: several trained runs on the same images, in one process, one table."""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from ldseg.evaluation.metrics import class_statistics, foreground_mean
from ldseg.experiments.common import CaseSelection
from ldseg.experiments.measure import PeakRSS
from ldseg.inference import Predictor, SamplingOptions
from ldseg.inference.scoring import segment_and_score
from ldseg.utils import atomic_write_text


def compare_runs(
    runs: Sequence[Path],
    cases: CaseSelection,
    out_dir: Path,
    sampling: SamplingOptions | None = None,
) -> dict:
    """Dice/IoU per class, median seconds per image, parameters and peak memory of each run.

    Every run segments the same cases (read with its own data settings) in this process, one
    image at a time after a warm-up image, so that each image is timed from its preprocessing
    to its mask; ``sampling.steps`` overrides each diffusion run's own sampling steps.
    """
    sampling = sampling or SamplingOptions()
    rows = []
    for run in runs:
        predictor = Predictor.from_run(run)
        model, config = predictor.model, predictor.config
        read = cases.cases(config.data)
        sampler = predictor.pipeline(sampling.steps or None, sampling.sampler).sampler
        options = replace(sampling, steps=None if sampler is None else len(sampler.timesteps))
        first = read[0]
        predictor.predict_array(
            first.image, options.steps, options.sampler, options.seed, spacing=first.spacing
        )
        with PeakRSS() as memory:
            scored = segment_and_score(
                predictor,
                map(predictor.adapter.case_inputs, read),
                options,
                batching="case",
                iou=True,
                timed=True,
            )
        dice = scored.scores.class_dice()
        iou = class_statistics(scored.scores.iou)[0]
        rows.append(
            {
                "run": str(run),
                "model": config.model.name,
                "steps": options.steps,
                "dice": [float(d) for d in dice],
                "iou": [float(v) for v in iou],
                "mean_dice": foreground_mean(dice),
                "mean_iou": foreground_mean(iou),
                "seconds_per_image": statistics.median(scored.seconds),
                "parameters": sum(p.numel() for p in model.parameters()),
                "peak_memory_mib": memory.peak_mib,
            }
        )
    result = {"data": str(cases.data), "num_cases": len(read), "runs": rows}
    out_dir = Path(out_dir)
    atomic_write_text(out_dir / "compare.json", json.dumps(result, indent=2) + "\n")
    atomic_write_text(out_dir / "compare.md", compare_table(result) + "\n")
    return result


def compare_table(result: dict) -> str:
    """Markdown: one row per run, Dice and IoU per foreground class, speed, size, memory."""
    classes = len(result["runs"][0]["dice"]) if result["runs"] else 0
    head = ["run", "model", "steps"]
    head += [f"Dice {c}" for c in range(1, classes)] + ["mean Dice", "mean IoU"]
    head += ["s / image", "parameters", "peak MiB"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in result["runs"]:
        cells = [Path(r["run"]).name, r["model"], str(r["steps"] or "-")]
        cells += [f"{d:.4f}" for d in r["dice"][1:]]
        cells += [f"{r['mean_dice']:.4f}", f"{r['mean_iou']:.4f}"]
        cells += [f"{r['seconds_per_image']:.3f}", f"{r['parameters']:,}"]
        cells += [f"{r['peak_memory_mib']:.0f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
