"""``ldseg check-data``: is a dataset usable? A table of its splits; exit 1 when it is not."""

from __future__ import annotations

import argparse
from pathlib import Path

from ldseg.cli.common import classes, finite
from ldseg.config import LAYOUTS, Config


def add_parser(sub: argparse._SubParsersAction) -> None:
    check = sub.add_parser(
        "check-data", help="check a dataset: pairs, shapes, geometry, labels; exit 1 if unusable"
    )
    check.add_argument("data", type=Path, help="dataset folder or CSV/JSON pair list")
    check.add_argument(
        "--classes", type=classes, help="declared number of classes (with background)"
    )
    check.add_argument("--layout", choices=LAYOUTS, help="dataset layout (default: detected)")
    check.add_argument("--binarize", type=finite, help="foreground is mask > T (127 for JPEG)")
    check.add_argument(
        "--config", type=Path, action="append", help="preset(s) whose data settings apply"
    )
    check.add_argument("--quiet", action="store_true", help="no progress bars")
    check.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ldseg.data.check import check_dataset, format_check

    config = Config.load_presets(args.config or [])
    data = config.data
    data.layout = args.layout or data.layout
    data.binarize = data.binarize if args.binarize is None else args.binarize
    classes = args.classes or config.model.num_classes
    result = check_dataset(args.data, data, classes, progress=not args.quiet)
    print(format_check(result))
    return 0 if result.ok else 1
