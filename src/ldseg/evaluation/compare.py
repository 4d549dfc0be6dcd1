"""``ldseg compare``: several trained runs on the same images, in one process, one table."""

from __future__ import annotations

import json
import statistics
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ldseg.data.io import find_pairs, read_image, read_mask
from ldseg.evaluation.metrics import dice_iou
from ldseg.inference import Predictor
from ldseg.utils import atomic_write_text


class PeakRSS:
    """Peak resident memory above the level at entry, sampled every ``interval`` seconds.

    Torch's CPU allocations are invisible to tracemalloc, and ``ru_maxrss`` never goes down,
    so several models measured in one process need this sampler of ``/proc/self/statm``.
    """

    def __init__(self, interval: float = 0.002) -> None:
        self.interval = interval
        self.peak_mib = 0.0
        self._stop = threading.Event()

    @staticmethod
    def rss_mib() -> float:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * 4096 / 2**20

    def _watch(self) -> None:
        while not self._stop.is_set():
            self.peak_mib = max(self.peak_mib, self.rss_mib() - self.start_mib)
            time.sleep(self.interval)

    def __enter__(self) -> PeakRSS:
        self.start_mib = self.rss_mib()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def compare_runs(runs: Sequence[Path], data: Path, out_dir: Path, steps: int | None = None) -> dict:
    """Dice/IoU per class, median seconds per image, parameters and peak memory of each run.

    Every run segments the same image/mask pairs of ``data`` in this process (one warm-up
    image first); ``steps`` overrides each diffusion run's own sampling steps.
    """
    pairs = find_pairs(data)
    images = [read_image(p.image)[0] for p in pairs]
    truths = [read_mask(p.mask) for p in pairs]
    rows = []
    for run in runs:
        predictor = Predictor.from_run(run)
        model, config = predictor.model, predictor.config
        run_steps = (steps or config.sampling.steps) if hasattr(model, "schedule") else None
        predictor.predict_array(images[0], steps=run_steps)  # warm-up
        scores, seconds = [], []
        with PeakRSS() as memory:
            for image, truth in zip(images, truths, strict=True):
                start = time.perf_counter()
                mask = predictor.predict_array(image, steps=run_steps).mask
                seconds.append(time.perf_counter() - start)
                scores.append(dice_iou(mask, truth, model.num_classes))
        dice = np.nanmean([s[0] for s in scores], axis=0)
        iou = np.nanmean([s[1] for s in scores], axis=0)
        rows.append(
            {
                "run": str(run),
                "model": config.model.name,
                "steps": run_steps,
                "dice": [float(d) for d in dice],
                "iou": [float(v) for v in iou],
                "mean_dice": float(np.nanmean(dice[1:])),
                "mean_iou": float(np.nanmean(iou[1:])),
                "seconds_per_image": statistics.median(seconds),
                "parameters": sum(p.numel() for p in model.parameters()),
                "peak_memory_mib": memory.peak_mib,
            }
        )
    result = {"data": str(data), "num_cases": len(pairs), "runs": rows}
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
