"""Folder prediction throughput: one file at a time against batches read by worker processes.

    python benchmarks/predict_throughput.py --run RUN     # the first 200 CAMUS val images
    python benchmarks/predict_throughput.py --quick       # a tiny fresh model, 8 synthetic images

Every configuration predicts the same files into its own folder, as ``ldseg predict`` does
(read, preprocess, sample, resize back, write PNG). "one at a time" calls
``Predictor.predict_file`` per file (the loop ``ldseg predict`` ran before batching); the others
call ``Predictor.predict_files`` with a batch size and a number of reader processes, as
``ldseg predict --batch-size N --workers W`` does. The configurations are interleaved, repeat by
repeat, in one process after one warm-up prediction, and the median images per second over the
repeats is reported (the machine may be shared). Every configuration's masks are compared with
the one-at-a-time masks (pixels that differ, the most over the repeats). Writes
``benchmarks/results/predict_throughput[_quick].json``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ldseg.config import Config, DataConfig, ModelConfig
from ldseg.data import list_images, read_image
from ldseg.data.synthetic import write_synthetic_dataset
from ldseg.experiments.results import environment
from ldseg.inference import Predictor
from ldseg.models import build_model
from ldseg.utils import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
CAMUS_VAL = ROOT.parent / "shared" / "data" / "camus" / "val" / "images"
RESULTS = ROOT / "benchmarks" / "results"
ONE_AT_A_TIME = "one at a time"
# (batch size, workers) of the batched configurations
FULL = [(1, 0), (8, 0), (32, 0), (1, 2), (8, 2), (32, 2)]
QUICK = [(1, 0), (4, 0), (4, 2)]


def quick_setup(folder: Path) -> tuple[Predictor, list[Path]]:
    """A freshly initialised small LDSeg (speed does not depend on the weights) and 8 images."""
    config = Config(
        model=ModelConfig(in_channels=1, num_classes=3, channels=[8, 16, 16], num_heads=2),
        data=DataConfig(size=[32, 32]),
    )
    torch.manual_seed(0)
    images = write_synthetic_dataset(folder, 8, (48, 40), num_classes=3, seed=0) / "images"
    return Predictor(build_model(config), config), list_images(images)


def predict(
    predictor: Predictor, paths: list[Path], out: Path, batch_size: int | None, workers: int
) -> float:
    """Seconds to write the masks of ``paths`` into ``out`` (``batch_size`` None: one call per
    file)."""
    start = time.perf_counter()
    if batch_size is None:
        for path in paths:
            predictor.predict_file(path, out)
    else:
        predictor.predict_files(paths, out, batch_size=batch_size, workers=workers)
    return time.perf_counter() - start


def differing_pixels(out: Path, reference: Path) -> int:
    """Mask pixels that differ between the masks in ``out`` and those in ``reference``."""
    return sum(
        int((np.asarray(Image.open(out / mask.name)) != np.asarray(Image.open(mask))).sum())
        for mask in reference.glob("*.png")
    )


def measure(
    predictor: Predictor,
    paths: list[Path],
    configurations: list[tuple[int | None, int]],
    repeats: int,
    scratch: Path,
) -> list[dict]:
    """Images per second of every configuration, interleaved over ``repeats`` rounds."""
    predictor.predict_array(read_image(paths[0])[0])  # warm-up
    seconds: dict[int, list[float]] = {i: [] for i in range(len(configurations))}
    differing = dict.fromkeys(seconds, 0)
    for repeat in range(repeats):
        for i, (batch_size, workers) in enumerate(configurations):
            out = scratch / f"r{repeat}-c{i}"
            seconds[i].append(predict(predictor, paths, out, batch_size, workers))
            differing[i] = max(differing[i], differing_pixels(out, scratch / "r0-c0"))
            print(f"repeat {repeat} {label(batch_size, workers)}: {seconds[i][-1]:.2f} s")
    rows = []
    for i, (batch_size, workers) in enumerate(configurations):
        rates = [len(paths) / s for s in seconds[i]]
        rows.append(
            {
                "mode": ONE_AT_A_TIME if batch_size is None else "batched",
                "batch_size": batch_size,
                "workers": workers,
                "median_images_per_s": statistics.median(rates),
                "images_per_s": rates,
                "seconds": seconds[i],
                "pixels_differing_from_one_at_a_time": differing[i],
            }
        )
    return rows


def label(batch_size: int | None, workers: int) -> str:
    if batch_size is None:
        return ONE_AT_A_TIME
    return f"batch {batch_size}, {workers} workers"


def table(rows: list[dict]) -> str:
    """A Markdown table of the rows, with the speed-up over one file at a time."""
    base = rows[0]["median_images_per_s"]
    lines = [
        "| configuration | images/s (median) | speed-up | mask pixels differing |",
        "|---|---|---|---|",
    ]
    for row in rows:
        rate, differing = row["median_images_per_s"], row["pixels_differing_from_one_at_a_time"]
        name = label(row["batch_size"], row["workers"])
        lines.append(f"| {name} | {rate:.2f} | {rate / base:.2f} x | {differing} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", type=Path, help="trained run folder (full mode)")
    parser.add_argument("--images", type=Path, default=CAMUS_VAL, help="image folder")
    parser.add_argument("--count", type=int, default=200, help="images (the first N sorted)")
    parser.add_argument("--repeats", type=int, default=3, help="rounds over the configurations")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's default)")
    parser.add_argument("--quick", action="store_true", help="tiny fresh model, one round")
    parser.add_argument("--out", type=Path, help="results folder (default: benchmarks/results)")
    args = parser.parse_args(argv)
    if not args.quick and args.run is None:
        parser.error("--run is needed without --quick")
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        if args.quick:
            predictor, paths = quick_setup(scratch / "data")
        else:
            predictor, paths = Predictor.from_run(args.run), list_images(args.images)
        paths = paths[: args.count]
        configurations = [(None, 0), *(QUICK if args.quick else FULL)]
        repeats = 1 if args.quick else args.repeats
        rows = measure(predictor, paths, configurations, repeats, scratch)
        mask_pixels = sum(np.asarray(Image.open(p)).size for p in paths)
    print(table(rows))
    results = {
        "images": len(paths),
        "image_folder": "synthetic" if args.quick else str(args.images),
        "run": None if args.quick else str(args.run),
        "training_size": predictor.config.data.size,
        "steps": predictor.config.sampling.steps,
        "sampler": predictor.config.sampling.sampler,
        "repeats": repeats,
        "mask_pixels": mask_pixels,
        "rows": rows,
    }
    out = args.out or RESULTS
    name = f"predict_throughput{'_quick' if args.quick else ''}.json"
    record = {
        "benchmark": "predict_throughput",
        "command": shlex.join(
            [
                "python",
                "benchmarks/predict_throughput.py",
                *(sys.argv[1:] if argv is None else argv),
            ]
        ),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **environment(),
        "results": results,
    }
    atomic_write_text(out / name, json.dumps(record, indent=2) + "\n")
    print(f"results: {out / name}")
    return record


if __name__ == "__main__":
    main()
