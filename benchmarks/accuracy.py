"""Accuracy on the real validation splits, every model given the same wall-clock training budget.

    python benchmarks/accuracy.py --dataset camus --models ldseg,resunet,unet --minutes 12
    python benchmarks/accuracy.py --dataset kvasir --models ldseg --minutes 12
    python benchmarks/accuracy.py --dataset acdc --models ldseg,resunet --minutes 12
    python benchmarks/accuracy.py --dataset acdc-2d --models ldseg,resunet --minutes 12
    python benchmarks/accuracy.py --dataset camus --quick    # 24 training, 4 test cases, 64 x 64
    python benchmarks/accuracy.py --dataset camus --models ldseg --set model.decoder_input=x0

``--set SECTION.KEY=VALUE`` (YAML value) changes the preset for every model, to compare variants.

Training never sees the evaluation split: 10% of the training pairs are held out for checkpoint
selection, and Dice is measured on ``val`` (CAMUS, ACDC) or on the Kvasir files after the first
800 in sorted order, at each image's own size (predictions are resized back). Results go to
``benchmarks/results/accuracy_<dataset>[_quick].json`` with the command, machine and versions.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ldseg.config import Config
from ldseg.data.cases import read_cases
from ldseg.data.layouts import configure, discover
from ldseg.experiments.diagnose import diagnose
from ldseg.experiments.results import environment
from ldseg.inference import Predictor
from ldseg.inference.scoring import segment_and_score
from ldseg.training.trainer import train
from ldseg.utils import atomic_write_text, parse_yaml

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "benchmarks" / "results"

# dataset: (preset, data folder, CPU training size, train/test split)
DATASETS = {
    "camus": ("camus.yaml", "camus", [128, 128]),
    "kvasir": ("kvasir.yaml", "kvasir-seg", [128, 128]),
    "acdc": ("acdc.yaml", "acdc", None),  # the preset's native-resolution crops
    "acdc-2d": ("acdc-2d.yaml", "acdc", None),  # slice-wise, scored per volume (3D Dice)
}
KVASIR_TRAIN = 800


def split(dataset: str, root: Path, config: Config) -> tuple[list, list]:
    """Training pairs and evaluation pairs of ``dataset`` (never overlapping)."""
    spec = discover(root)
    configure(config, spec)
    if dataset == "kvasir":
        pairs = sorted(spec.pairs("all"), key=lambda p: p.image.name)
        return pairs[:KVASIR_TRAIN], pairs[KVASIR_TRAIN:]
    return spec.pairs("train"), spec.pairs("val")


def evaluate(run: Path, pairs: list, config: Config) -> dict:
    """Per-class Dice (mean over cases, empty-in-both excluded) and seconds per image, each
    image segmented alone and timed from its preprocessing to its mask."""
    predictor = Predictor.from_run(run)
    cases = list(read_cases(pairs, config.data))
    inputs = map(predictor.adapter.case_inputs, cases)
    scored = segment_and_score(predictor, inputs, batching="case", timed=True)
    dice = scored.scores.class_dice()
    return {
        "dice": [round(float(d), 4) for d in dice],
        "mean_fg_dice": round(float(np.nanmean(dice[1:])), 4),
        "seconds_per_image": round(float(np.median(scored.seconds)), 4),
        "num_cases": len(pairs),
    }


@dataclass
class Limits:
    """Research settings: fixed epochs instead of the budget, subsets, a diagnosis."""

    epochs: int = 0  # 0: train until the wall-clock budget
    train: int | None = None  # first N training pairs
    test: int | None = None  # first N test pairs
    diagnose: int = 0  # diagnose ldseg runs on the first N test pairs


def with_settings(config: Config, settings: list[str]) -> Config:
    """``config`` with ``SECTION.KEY=VALUE`` settings applied, validated like a config file."""
    raw = config.to_dict()
    for setting in settings:
        key, sep, value = setting.partition("=")
        section, _, field = key.partition(".")
        if not sep or section not in raw or field not in raw[section]:
            raise SystemExit(f"--set {setting}: expected SECTION.KEY=VALUE with a known key")
        raw[section][field] = parse_yaml(value)
    return Config.from_dict(raw, "--set")


def run(
    dataset: str,
    models: list[str],
    minutes: float,
    quick: bool,
    work: Path,
    settings: list[str],
    limits: Limits | None = None,
) -> dict:
    preset, folder, size = DATASETS[dataset]
    limits = limits or Limits()
    rows = []
    for name in models:
        config = with_settings(Config.load(ROOT / "configs" / preset, preset=True), settings)
        config.model.name = name
        train_pairs, test_pairs = split(dataset, DATA / folder, config)
        if size and not any(s.startswith("data.size=") for s in settings):
            config.data.size = list(size)
        config.train.epochs = limits.epochs or 10_000  # without --epochs the budget ends training
        config.train.max_minutes = 0.0 if limits.epochs else minutes
        config.train.val_every = 2
        train_pairs = train_pairs[: limits.train]
        test_pairs = test_pairs[: limits.test]
        if quick:
            train_pairs, test_pairs = train_pairs[:24], test_pairs[:4]
            config.data.size = [64, 64, 8][: len(config.data.size)]
            config.train.val_every = 1
        start = time.perf_counter()
        result = train(config, train_pairs, None, work / name, progress=not quick)
        row = {
            "model": name,
            "epochs": result.epochs,
            "best_epoch": result.best_epoch,
            "train_seconds": round(time.perf_counter() - start, 1),
            "num_train": len(train_pairs),
            "size": config.data.size,
            **evaluate(work / name, test_pairs, config),
        }
        if limits.diagnose and name.startswith("ldseg"):
            predictor = Predictor.from_run(work / name)
            found = diagnose(predictor, test_pairs[: limits.diagnose])
            row["diagnose"] = {k: v["mean_dice"] for k, v in found["routes"].items()}
            row["diagnose"]["latent_correlation"] = found["latent_correlation"]
        print(json.dumps(row))
        rows.append(row)
    return {
        "dataset": dataset,
        "budget_minutes": minutes,
        "class_names": config.data.class_names,
        "quick": quick,
        "settings": settings,
        "rows": rows,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", choices=DATASETS, required=True)
    parser.add_argument("--models", default="ldseg,resunet,unet")
    parser.add_argument("--minutes", type=float, default=12.0, help="training budget per model")
    parser.add_argument("--quick", action="store_true", help="tiny subset, 6 s of training a model")
    parser.add_argument("--out", type=Path, help="results JSON (default: benchmarks/results/)")
    parser.add_argument("--keep", type=Path, help="keep the run folders here")
    parser.add_argument(
        "--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="change the preset"
    )
    parser.add_argument("--epochs", type=int, default=0, help="fixed epochs instead of --minutes")
    parser.add_argument("--train-limit", type=int, help="use the first N training pairs")
    parser.add_argument("--test-limit", type=int, help="score the first N test pairs")
    parser.add_argument(
        "--diagnose", type=int, default=0, metavar="N", help="diagnose on N test pairs"
    )
    args = parser.parse_args(argv)
    minutes = 0.1 if args.quick else args.minutes
    limits = Limits(args.epochs, args.train_limit, args.test_limit, args.diagnose)
    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        results = run(
            args.dataset, args.models.split(","), minutes, args.quick, work, args.set, limits
        )
        results["limits"] = asdict(limits)
    suffix = "_quick" if args.quick else ""
    out = args.out or RESULTS / f"accuracy_{args.dataset}{suffix}.json"
    record = {
        "benchmark": "accuracy",
        "command": shlex.join(["python", "benchmarks/accuracy.py", *(argv or sys.argv[1:])]),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **environment(),
        "results": results,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, json.dumps(record, indent=2) + "\n")
    print(f"results: {out}")
    return record


if __name__ == "__main__":
    main()
