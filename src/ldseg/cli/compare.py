"""``ldseg compare``: several runs on the same images in one process, one table."""

from __future__ import annotations

import argparse
from pathlib import Path

from ldseg.cli.common import positive_int
from ldseg.utils import free_dir


def add_parser(sub: argparse._SubParsersAction) -> None:
    compare = sub.add_parser(
        "compare", help="several runs on the same images in one process: accuracy, speed, memory"
    )
    compare.add_argument("runs", type=Path, nargs="+", metavar="RUN", help="trained run folders")
    compare.add_argument(
        "--data", type=Path, required=True, help="dataset (a folder with images/ and masks/, ...)"
    )
    compare.add_argument(
        "--split", default="val", help="split of a dataset with splits (default: val)"
    )
    compare.add_argument("--out", type=Path, help="folder for compare.md and compare.json")
    compare.add_argument(
        "--steps", type=positive_int, help="sampling steps K for every diffusion run"
    )
    compare.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ldseg.experiments.common import CaseSelection
    from ldseg.experiments.compare import compare_runs, compare_table
    from ldseg.inference import SamplingOptions
    from ldseg.runs.guard import check_outputs

    out = args.out or free_dir("ldseg-compare")
    runs = [Path(run) / name for run in args.runs for name in ("config.json", "best.safetensors")]
    check_outputs([out / "compare.json", out / "compare.md"], [*runs, args.data])
    cases = CaseSelection(args.data, args.split)
    result = compare_runs(args.runs, cases, out, SamplingOptions(args.steps))
    print(compare_table(result))
    print(f"table: {out / 'compare.md'} (and compare.json)")
    return 0
