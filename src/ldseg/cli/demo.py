"""``ldseg demo``: synthetic data, training, 2-step DDIM segmentation, evaluation, report."""

from __future__ import annotations

import argparse
from pathlib import Path

from ldseg.cli.common import positive_int


def add_parser(sub: argparse._SubParsersAction) -> None:
    demo = sub.add_parser(
        "demo", help="train and evaluate on built-in synthetic data (a few minutes on a CPU)"
    )
    demo.add_argument(
        "--out", type=Path, help="output folder (default: ./ldseg-demo, or the next free one)"
    )
    demo.add_argument(
        "--epochs", type=positive_int, default=None, help="training epochs (default 11)"
    )
    demo.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ldseg.demo import run_demo

    run_demo(args.out, epochs=args.epochs)
    return 0
