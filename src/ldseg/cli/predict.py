"""``ldseg predict``: one mask per input file, same stem, with ``prediction.json`` beside them."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ldseg.cli.common import add_run_options, count, device, positive_int
from ldseg.errors import LDSegError
from ldseg.utils import usable_cpus

# The options passed on to Predictor.predict_files under their own names.
PREDICT_OPTIONS = (
    "steps",
    "sampler",
    "seed",
    "samples",
    "tta",
    "save_uncertainty",
    "save_trajectory",
    "batch_size",
    "workers",
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    predict = sub.add_parser("predict", help="segment an image file or a folder of images")
    predict.add_argument(
        "--run",
        type=Path,
        required=True,
        action="append",
        help="trained run folder; repeat it for an ensemble (the mean of the runs' "
        "probabilities before the argmax)",
    )
    predict.add_argument("--input", type=Path, required=True, help="image file or folder")
    predict.add_argument("--out", type=Path, required=True, help="folder for the masks")
    predict.add_argument(
        "--steps", type=positive_int, help="sampling steps K (default: the run's, 2)"
    )
    predict.add_argument("--seed", type=count, default=0, help="seed of the initial noise")
    add_run_options(predict, sampler_help="sampler (default: the run's, ddim)")
    predict.add_argument(
        "--device", help="torch device, e.g. cpu, cuda, cuda:1 (default: cuda if available)"
    )
    predict.add_argument(
        "--strict", action="store_true", help="stop at the first bad file instead of skipping it"
    )
    predict.add_argument(
        "--batch-size", type=positive_int, default=8, help="same-size images sampled together (8)"
    )
    predict.add_argument(
        "--workers",
        type=count,
        default=min(2, usable_cpus()),
        help="processes that read and preprocess files (default: %(default)s; 0: none)",
    )
    predict.add_argument(
        "--samples",
        type=positive_int,
        default=1,
        help="samples per image; the mask is their mean's argmax",
    )
    predict.add_argument(
        "--tta",
        action="store_true",
        help="test-time flips: average each sample over every combination of axis flips "
        "(only for runs trained with flips)",
    )
    predict.add_argument(
        "--no-postprocess",
        action="store_true",
        help="do not keep only the largest connected component of the classes the run's "
        "postprocessing.json chose",
    )
    predict.add_argument(
        "--save-uncertainty",
        action="store_true",
        help="write the mean foreground probability and per-pixel SD maps to OUT/uncertainty "
        "(needs --samples 2 or more)",
    )
    predict.add_argument(
        "--save-trajectory",
        action="store_true",
        help="write a picture strip and a GIF of the reverse process to OUT/trajectory",
    )
    predict.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ldseg.data.inputs import group_channels
    from ldseg.data.pairing import list_images
    from ldseg.inference import Ensemble, Predictor

    if args.samples < 1 or (args.save_uncertainty and args.samples < 2):
        raise LDSegError("--samples must be at least 1, and at least 2 with --save-uncertainty")
    chosen, postprocess = device(args.device), not args.no_postprocess
    if len(args.run) == 1:
        predictor = Predictor.from_run(args.run[0], args.weights, chosen, postprocess)
    else:
        predictor = Ensemble.from_runs(args.run, args.weights, chosen, postprocess)
    paths = group_channels(
        list_images(args.input, strict=args.strict), predictor.config.model.in_channels
    )
    failures: list[str] = []

    def skip(err: LDSegError) -> None:
        failures.append(str(err))
        print(f"ldseg: skipped: {err}", file=sys.stderr)

    options = {name: getattr(args, name) for name in PREDICT_OPTIONS}
    start = time.perf_counter()
    written = predictor.predict_files(
        paths, args.out, on_error=None if args.strict else skip, **options
    )
    seconds = time.perf_counter() - start
    print(
        f"wrote {len(written)} of {len(paths)} masks to {args.out} in {seconds:.1f} s "
        f"({len(paths) / seconds:.2f} images/s, batch size {args.batch_size}, "
        f"{args.workers} workers); record: {args.out / 'prediction.json'}"
    )
    if failures:
        print(f"ldseg: error: {len(failures)} file(s) failed, listed above", file=sys.stderr)
        return 1
    return 0
