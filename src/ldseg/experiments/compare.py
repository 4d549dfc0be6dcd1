"""``ldseg compare``: several trained runs on the same images, in one process, one table."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

from ldseg.evaluation.metrics import class_statistics, dice_iou, foreground_mean
from ldseg.experiments.common import run_cases
from ldseg.experiments.measure import PeakRSS
from ldseg.inference import Predictor
from ldseg.utils import atomic_write_text


def compare_runs(
    runs: Sequence[Path],
    data: Path,
    out_dir: Path,
    steps: int | None = None,
    split: str = "val",
) -> dict:
    """Dice/IoU per class, median seconds per image, parameters and peak memory of each run.

    Every run segments the same image/mask pairs of ``split`` of ``data`` (read with its own
    data settings) in this process, one warm-up image first; ``steps`` overrides each
    diffusion run's own sampling steps.
    """
    rows = []
    for run in runs:
        predictor = Predictor.from_run(run)
        model, config = predictor.model, predictor.config
        cases = run_cases(predictor, data, split)
        sampler = predictor.pipeline(steps or None).sampler
        run_steps = None if sampler is None else len(sampler.timesteps)
        predictor.predict_array(cases[0].image, run_steps, spacing=cases[0].spacing)  # warm-up
        scores, seconds = [], []
        with PeakRSS() as memory:
            for case in cases:
                start = time.perf_counter()
                mask = predictor.predict_array(case.image, run_steps, spacing=case.spacing).mask
                seconds.append(time.perf_counter() - start)
                scores.append(dice_iou(mask, case.mask, model.num_classes))
        dice = class_statistics([s[0] for s in scores])[0]
        iou = class_statistics([s[1] for s in scores])[0]
        rows.append(
            {
                "run": str(run),
                "model": config.model.name,
                "steps": run_steps,
                "dice": [float(d) for d in dice],
                "iou": [float(v) for v in iou],
                "mean_dice": foreground_mean(dice),
                "mean_iou": foreground_mean(iou),
                "seconds_per_image": statistics.median(seconds),
                "parameters": sum(p.numel() for p in model.parameters()),
                "peak_memory_mib": memory.peak_mib,
            }
        )
    result = {"data": str(data), "num_cases": len(cases), "runs": rows}
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
