"""``ldseg export``: a run as one TorchScript or ONNX file, checked against PyTorch."""

from __future__ import annotations

import argparse
from pathlib import Path

from ldseg.cli.common import positive_int
from ldseg.inference.export import EXPORT_FORMATS
from ldseg.runs import WEIGHTS


def add_parser(sub: argparse._SubParsersAction) -> None:
    export = sub.add_parser(
        "export",
        help="write a run as one TorchScript or ONNX file: raw image -> (mask, probabilities)",
        description="Write one file that maps raw images (B, C, *size) at the run's training "
        "size to (mask, probabilities) with K DDIM steps from the fixed initial noise of seed 0 "
        "(intensity normalisation included; reading, channel conversion and resizing are not). "
        "The file is checked against PyTorch before it is written.",
    )
    export.add_argument("--run", type=Path, required=True, help="trained run folder")
    export.add_argument("--format", choices=EXPORT_FORMATS, required=True)
    export.add_argument("--steps", type=positive_int, help="DDIM steps K (default: the run's)")
    export.add_argument("--weights", default="best", choices=WEIGHTS)
    export.add_argument("--out", type=Path, required=True, help="file to write (.pt, .onnx)")
    export.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ldseg.inference import Predictor
    from ldseg.inference.export import export_run
    from ldseg.runs import RunFolder
    from ldseg.runs.guard import check_outputs

    folder = RunFolder(args.run)
    check_outputs([args.out], [folder.config_path, folder.weights_path(args.weights)])
    predictor = Predictor.from_run(args.run, weights=args.weights)
    difference = export_run(predictor, args.format, args.out, args.steps, run=args.run)
    print(
        f"wrote {args.out} ({args.format}); largest probability difference to PyTorch "
        f"on random images: {difference:.1e}"
    )
    return 0
