"""Command-line interface: ``ldseg demo | train | predict | evaluate | experiment | check-data |
compare | cv-summary | export``, one module per command (its parser and its handler)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ldseg import __version__
from ldseg.cli import (
    check_data,
    compare,
    cv_summary,
    demo,
    evaluate,
    experiment,
    export,
    predict,
    train,
)
from ldseg.cli.common import OneLineParser
from ldseg.errors import LDSegError

COMMANDS = (demo, train, predict, evaluate, experiment, check_data, compare, cv_summary, export)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="ldseg",
        description="LDSeg: latent diffusion for medical image segmentation, 2D and 3D.",
    )
    parser.add_argument("--version", action="version", version=f"ldseg {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # for the records commands write
    try:
        return args.handler(args)
    except LDSegError as err:
        if args.debug:
            raise
        print(f"ldseg: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("ldseg: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
