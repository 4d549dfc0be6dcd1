"""Command-line interface: ``ldseg demo | train | predict | evaluate``."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from ldseg import __version__
from ldseg.errors import LDSegError


def _add_train_overrides(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--size", type=int, nargs="+", metavar="N", help="training size H W [D]")
    parser.add_argument("--classes", type=int, help="number of classes including background")
    parser.add_argument("--epochs", type=int, help="training epochs")
    parser.add_argument("--batch-size", type=int, help="images per batch")
    parser.add_argument("--lr", type=float, help="initial learning rate")
    parser.add_argument("--seed", type=int, help="random seed")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ldseg",
        description="LDSeg: latent diffusion for medical image segmentation, 2D and 3D.",
    )
    parser.add_argument("--version", action="version", version=f"ldseg {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser(
        "demo", help="train and evaluate on built-in synthetic data (a few minutes on a CPU)"
    )
    demo.add_argument(
        "--out", type=Path, help="output folder (default: ./ldseg-demo, or the next free one)"
    )
    demo.add_argument("--epochs", type=int, default=None, help="training epochs (default 30)")

    train = sub.add_parser("train", help="train a model into a run folder")
    train.add_argument("--data", type=Path, required=True, help="folder with images/ and masks/")
    train.add_argument("--val-data", type=Path, help="validation folder (default: hold out 10%%)")
    train.add_argument("--out", type=Path, required=True, help="run folder to create")
    train.add_argument("--config", type=Path, help="YAML or JSON preset (see configs/)")
    train.add_argument("--quiet", action="store_true", help="no progress bars")
    _add_train_overrides(train)

    predict = sub.add_parser("predict", help="segment an image file or a folder of images")
    predict.add_argument("--run", type=Path, required=True, help="trained run folder")
    predict.add_argument("--input", type=Path, required=True, help="image file or folder")
    predict.add_argument("--out", type=Path, required=True, help="folder for the masks")
    predict.add_argument("--steps", type=int, help="sampling steps K (default: the run's, 2)")
    predict.add_argument("--sampler", choices=("ddim", "ddpm"), help="sampler (default: ddim)")
    predict.add_argument("--seed", type=int, default=0, help="seed of the initial noise")
    predict.add_argument("--weights", default="best", choices=("best", "last"))
    predict.add_argument(
        "--strict", action="store_true", help="stop at the first bad file instead of skipping it"
    )

    evaluate = sub.add_parser("evaluate", help="Dice and IoU of predicted masks against truth")
    evaluate.add_argument("--pred", type=Path, required=True, help="folder of predicted masks")
    evaluate.add_argument("--truth", type=Path, required=True, help="folder of true masks")
    evaluate.add_argument("--classes", type=int, help="number of classes (default: from the data)")
    evaluate.add_argument(
        "--out", type=Path, help="JSON report (default: PRED/evaluation.json); CSV beside it"
    )
    return parser


def cmd_train(args: argparse.Namespace) -> int:
    from ldseg.config import Config
    from ldseg.data.io import find_pairs
    from ldseg.training.trainer import train

    config = Config.load(args.config, preset=True) if args.config else Config()
    overrides = {
        "size": ("data", "size"),
        "classes": ("model", "num_classes"),
        "epochs": ("train", "epochs"),
        "batch_size": ("train", "batch_size"),
        "lr": ("train", "lr"),
        "seed": ("train", "seed"),
    }
    for arg, (section, key) in overrides.items():
        value = getattr(args, arg)
        if value is not None:
            setattr(getattr(config, section), key, value)
    config.validate("command line")
    train_pairs = find_pairs(args.data)
    val_pairs = find_pairs(args.val_data) if args.val_data else None
    result = train(config, train_pairs, val_pairs, args.out, progress=not args.quiet)
    print(
        f"trained {result.epochs} epochs in {result.seconds:.0f} s; best validation Dice "
        f"{result.best_val_dice:.4f} at epoch {result.best_epoch}; run folder {result.run_dir}"
    )
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from ldseg.data.io import list_images
    from ldseg.inference import Predictor

    predictor = Predictor.from_run(args.run, weights=args.weights)
    paths = list_images(args.input)
    failures: list[str] = []
    start = time.perf_counter()
    for path in paths:
        try:
            predictor.predict_file(path, args.out, args.steps, args.sampler, args.seed)
        except LDSegError as err:
            if args.strict:
                raise
            failures.append(str(err))
            print(f"ldseg: skipped: {err}", file=sys.stderr)
    seconds = time.perf_counter() - start
    done = len(paths) - len(failures)
    print(
        f"wrote {done} of {len(paths)} masks to {args.out} "
        f"({seconds / max(len(paths), 1):.3f} s per image)"
    )
    if failures:
        print(f"ldseg: error: {len(failures)} file(s) failed, listed above", file=sys.stderr)
        return 1
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from ldseg.evaluation import evaluate_folders

    out = args.out or args.pred / "evaluation.json"
    report = evaluate_folders(args.pred, args.truth, args.classes, out)
    print(format_report(report))
    print(f"report: {out} (per case: {out.with_suffix('.csv')})")
    return 0


def format_report(report: dict) -> str:
    """A Markdown table of per-class Dice and IoU and their foreground means."""
    lines = ["| class | name | Dice | IoU |", "|---|---|---|---|"]
    for index, cls in report["classes"].items():
        dice, iou = cls["dice"], cls["iou"]
        lines.append(f"| {index} | {cls.get('name') or ''} | {_fmt(dice)} | {_fmt(iou)} |")
    lines.append(f"| fg mean | | {_fmt(report['mean_dice'])} | {_fmt(report['mean_iou'])} |")
    return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def cmd_demo(args: argparse.Namespace) -> int:
    from ldseg.demo import run_demo

    run_demo(args.out, epochs=args.epochs)
    return 0


COMMANDS = {"demo": cmd_demo, "train": cmd_train, "predict": cmd_predict, "evaluate": cmd_evaluate}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
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
