"""``ldseg cv-summary``: the cross-validated Dice of the fold runs of one split."""

from __future__ import annotations

import argparse
from pathlib import Path

from ldseg.cli.common import add_run_options, count, positive_int


def add_parser(sub: argparse._SubParsersAction) -> None:
    summary = sub.add_parser(
        "cv-summary",
        help="cross-validated Dice per class of the fold runs of one split (train --folds)",
    )
    summary.add_argument(
        "runs", type=Path, nargs="+", metavar="RUN", help="the run folders of the folds"
    )
    summary.add_argument(
        "--out",
        type=Path,
        metavar="FILE",
        help="JSON summary (default: cv-summary.json beside the first run)",
    )
    summary.add_argument(
        "--data", type=Path, metavar="NEW_ROOT", help="the data's new root, if it moved"
    )
    summary.add_argument("--steps", type=positive_int, help="sampling steps K (default: the run's)")
    summary.add_argument("--seed", type=count, default=0, help="seed of the initial noise")
    add_run_options(summary, sampler_help="default: the run's")
    summary.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ldseg.experiments.crossval import cv_summary, cv_table, fold_runs
    from ldseg.inference import SamplingOptions
    from ldseg.runs import RunFolder
    from ldseg.runs.guard import check_outputs

    out = args.out or args.runs[0].parent / "cv-summary.json"
    folders = [RunFolder(run) for run in args.runs]
    inputs = [f.path / name for f in folders for name in (f.CONFIG, f.DATA, f.SPLITS)]
    inputs += [f.weights_path(args.weights) for f in folders]
    for _, val in fold_runs(args.runs, args.data)[1]:
        inputs += [path for pair in val for path in (*pair.images, pair.mask)]
    check_outputs([out], inputs)
    sampling = SamplingOptions(args.steps, args.sampler, args.seed)
    result = cv_summary(args.runs, out, sampling, args.weights, args.data)
    print(cv_table(result))
    if result["missing_folds"]:
        print(f"folds without a run: {result['missing_folds']} of {result['folds']}")
    print(f"summary: {out}")
    return 0
