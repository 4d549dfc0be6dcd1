"""Command-line interface: ``ldseg demo | train | predict | evaluate | experiment | check-data |
compare | export``."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ldseg import __version__
from ldseg.config import LAYOUTS, MODEL_NAMES, PRECISIONS
from ldseg.errors import LDSegError
from ldseg.utils import usable_cpus

if TYPE_CHECKING:
    import torch


def _add_train_overrides(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--size", type=int, nargs="+", metavar="N", help="training size H W [D]")
    parser.add_argument("--classes", type=int, help="number of classes including background")
    parser.add_argument("--epochs", type=int, help="training epochs")
    parser.add_argument("--batch-size", type=int, help="images per batch and process")
    parser.add_argument("--lr", type=float, help="initial learning rate")
    parser.add_argument("--seed", type=int, help="random seed")
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        help="fp32 (default), bf16 autocast, or fp16 autocast with gradient scaling (GPU only)",
    )
    parser.add_argument(
        "--sampling-steps",
        type=int,
        help="steps K for validation and the run's default for predict (2; 50 suits "
        "pixel-diffusion)",
    )
    parser.add_argument(
        "--max-minutes", type=float, help="wall-clock budget; stops after the epoch that ends it"
    )


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
    demo.add_argument("--epochs", type=int, default=None, help="training epochs (default 24)")

    train = sub.add_parser(
        "train",
        help="train a model into a run folder (torchrun -m ldseg train ...: data-parallel)",
    )
    source = train.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", type=Path, help="dataset folder or pair list (see check-data)")
    source.add_argument(
        "--resume",
        type=Path,
        metavar="RUN_DIR",
        help="continue an interrupted run from its last epoch, with its own config and data",
    )
    train.add_argument(
        "--val-data", type=Path, help="validation set (default: DATA's val split, or hold out 10%%)"
    )
    train.add_argument("--layout", choices=LAYOUTS, help="dataset layout (default: detected)")
    train.add_argument("--out", type=Path, help="run folder to create (needed with --data)")
    train.add_argument("--config", type=Path, help="YAML or JSON preset (see configs/)")
    train.add_argument("--model", choices=MODEL_NAMES, help="model to train (default: ldseg)")
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
        "--device", help="torch device, e.g. cpu, cuda, cuda:1 (default: cuda if available)"
    )
    predict.add_argument(
        "--strict", action="store_true", help="stop at the first bad file instead of skipping it"
    )
    predict.add_argument(
        "--batch-size", type=int, default=8, help="same-size images sampled together (8)"
    )
    predict.add_argument(
        "--workers",
        type=int,
        default=min(2, usable_cpus()),
        help="processes that read and preprocess files (default: %(default)s; 0: none)",
    )
    _add_sampling_outputs(predict)

    evaluate = sub.add_parser("evaluate", help="Dice and IoU of predicted masks against truth")
    evaluate.add_argument("--pred", type=Path, required=True, help="folder of predicted masks")
    evaluate.add_argument("--truth", type=Path, required=True, help="folder of true masks")
    evaluate.add_argument("--classes", type=int, help="number of classes (default: from the data)")
    evaluate.add_argument(
        "--out", type=Path, help="JSON report (default: PRED/evaluation.json); CSV beside it"
    )
    _add_report_flags(evaluate)
    _add_experiment_parser(sub)
    _add_check_data_parser(sub)

    compare = sub.add_parser(
        "compare", help="several runs on the same images in one process: accuracy, speed, memory"
    )
    compare.add_argument("runs", type=Path, nargs="+", metavar="RUN", help="trained run folders")
    compare.add_argument("--data", type=Path, required=True, help="folder with images/ and masks/")
    compare.add_argument("--out", type=Path, help="folder for compare.md and compare.json")
    compare.add_argument("--steps", type=int, help="sampling steps K for every diffusion run")
    _add_export_parser(sub)
    return parser


# ``ldseg train`` options that override a config entry: option dest -> (section, key).
TRAIN_OVERRIDES = {
    "size": ("data", "size"),
    "classes": ("model", "num_classes"),
    "epochs": ("train", "epochs"),
    "batch_size": ("train", "batch_size"),
    "lr": ("train", "lr"),
    "seed": ("train", "seed"),
    "model": ("model", "name"),
    "max_minutes": ("train", "max_minutes"),
    "sampling_steps": ("sampling", "steps"),
    "precision": ("train", "precision"),
}


def cmd_train(args: argparse.Namespace) -> int:
    from ldseg.training.trainer import resume, train

    if args.resume:
        extra = ["val_data", "layout", "out", "config", *TRAIN_OVERRIDES]
        given = ["--" + arg.replace("_", "-") for arg in extra if getattr(args, arg) is not None]
        if given:
            raise LDSegError(
                f"--resume continues {args.resume} with its own config and data; "
                f"drop {' '.join(given)}"
            )
        result = resume(args.resume, progress=not args.quiet)
    elif args.out is None:
        raise LDSegError("train --data needs --out RUN_DIR, the run folder to create")
    else:
        result = train(*_new_training(args), args.out, progress=not args.quiet)
    if os.environ.get("RANK", "0") == "0":  # one report under torchrun
        print(
            f"trained {result.epochs} epochs in {result.seconds:.0f} s; best validation Dice "
            f"{result.best_val_dice:.4f} at epoch {result.best_epoch}; "
            f"run folder {result.run_dir}"
        )
    return 0


def _new_training(args: argparse.Namespace) -> tuple:
    """The config (preset and overrides) and the training and validation pairs of a new run."""
    from ldseg.config import Config
    from ldseg.data.layouts import configure, discover

    config = Config.load(args.config, preset=True) if args.config else Config()
    for arg, (section, key) in TRAIN_OVERRIDES.items():
        value = getattr(args, arg)
        if value is not None:
            setattr(getattr(config, section), key, value)
    layout = args.layout or config.data.layout
    spec = discover(args.data, layout)
    configure(config, spec)
    config.validate("command line")
    train_pairs = spec.pairs("train")
    val_pairs = discover(args.val_data, layout).pairs("val") if args.val_data else None
    return config, train_pairs, val_pairs or spec.splits.get("val")


def cmd_predict(args: argparse.Namespace) -> int:
    from ldseg.data.io import list_images
    from ldseg.inference import Predictor

    extras = _sampling_outputs(args)
    predictor = Predictor.from_run(args.run, weights=args.weights, device=_device(args.device))
    paths = list_images(args.input, strict=args.strict)
    failures: list[str] = []

    def skip(err: LDSegError) -> None:
        failures.append(str(err))
        print(f"ldseg: skipped: {err}", file=sys.stderr)

    start = time.perf_counter()
    written = predictor.predict_files(
        paths,
        args.out,
        args.steps,
        args.sampler,
        args.seed,
        *extras,
        batch_size=args.batch_size,
        workers=args.workers,
        on_error=None if args.strict else skip,
    )
    seconds = time.perf_counter() - start
    print(
        f"wrote {len(written)} of {len(paths)} masks to {args.out} in {seconds:.1f} s "
        f"({len(paths) / seconds:.2f} images/s, batch size {args.batch_size}, "
        f"{args.workers} workers)"
    )
    if failures:
        print(f"ldseg: error: {len(failures)} file(s) failed, listed above", file=sys.stderr)
        return 1
    return 0


def _device(name: str | None) -> torch.device:
    """The ``--device`` asked for (cuda when available by default), checked before any work."""
    import torch

    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise LDSegError(f"--device {name}: not a torch device (cpu, cuda, cuda:1, ...)") from None
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise LDSegError(f"--device {name}: no such CUDA device on this machine")
    return device


def cmd_evaluate(args: argparse.Namespace) -> int:
    from ldseg.evaluation import evaluate_folders

    out = args.out or args.pred / "evaluation.json"
    report = evaluate_folders(args.pred, args.truth, args.classes, out, surface=True)
    print(format_report(report))
    print(f"report: {out} (per case: {out.with_suffix('.csv')})")
    _evaluate_extras(args, report, out)
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


def cmd_compare(args: argparse.Namespace) -> int:
    from ldseg.evaluation.compare import compare_runs, compare_table
    from ldseg.experiments.results import free_dir

    out = args.out or free_dir(Path("ldseg-compare"))
    result = compare_runs(args.runs, args.data, out, args.steps)
    print(compare_table(result))
    print(f"table: {out / 'compare.md'} (and compare.json)")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from ldseg.demo import run_demo

    run_demo(args.out, epochs=args.epochs)
    return 0


# Experiments, uncertainty and trajectory outputs of predict, HTML reports of evaluate.


def _add_sampling_outputs(predict: argparse.ArgumentParser) -> None:
    predict.add_argument(
        "--samples", type=int, default=1, help="samples per image; the mask is their mean's argmax"
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


def _sampling_outputs(args: argparse.Namespace) -> tuple[int, bool, bool]:
    if args.samples < 1 or (args.save_uncertainty and args.samples < 2):
        raise LDSegError("--samples must be at least 1, and at least 2 with --save-uncertainty")
    return args.samples, args.save_uncertainty, args.save_trajectory


def _add_report_flags(evaluate: argparse.ArgumentParser) -> None:
    evaluate.add_argument(
        "--report", action="store_true", help="also write report.html beside the JSON report"
    )
    evaluate.add_argument("--images", type=Path, help="image folder, for the report's overlays")


def _evaluate_extras(args: argparse.Namespace, report: dict, out: Path) -> None:
    """Print the surface distances; write report.html with ``--report``."""
    unit = report["distance_unit"]
    print(f"fg mean HD95 {_fmt(report['mean_hd95'])} {unit}, ASD {_fmt(report['mean_asd'])} {unit}")
    if args.report:
        from ldseg.evaluation.report import write_html_report

        command = shlex.join(["ldseg", *args.argv])
        html = out.with_name("report.html")
        write_html_report(report, html, args.images, args.pred, args.truth, command=command)
        print(f"HTML report: {html}")


def _comma_list(kind: type):
    def parse(text: str) -> list:
        try:
            return [kind(item) for item in text.split(",") if item.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list: {text!r}") from None

    return parse


def _add_experiment_parser(sub) -> None:
    """``ldseg experiment NAME``; option names match the ``run_NAME`` function parameters."""
    experiment = sub.add_parser(
        "experiment", help="the paper's experiments; each writes results.json and figures"
    )
    names = experiment.add_subparsers(dest="experiment", required=True, metavar="EXPERIMENT")

    def add(name: str, help: str, several_runs: bool = False, data: bool = True):
        parser = names.add_parser(name, help=help)
        if several_runs:
            runs_help = "trained run folder (repeat the option for several)"
            parser.add_argument(
                "--run",
                dest="runs",
                metavar="RUN",
                type=Path,
                action="append",
                required=True,
                help=runs_help,
            )
        else:
            parser.add_argument("--run", type=Path, required=True, help="trained run folder")
        if data:
            parser.add_argument(
                "--data", type=Path, required=True, help="test folder with images/ and masks/"
            )
        parser.add_argument(
            "--out", type=Path, help=f"output folder (default: ./ldseg-{name}, or the next free)"
        )
        parser.add_argument("--weights", default="best", choices=("best", "last"))
        parser.add_argument("--sampler", choices=("ddim", "ddpm"), help="default: the run's")
        return parser

    def seeded(parser, max_cases: bool = True) -> None:
        parser.add_argument("--seed", type=int, default=0, help="seed of the initial noise")
        if max_cases:
            parser.add_argument("--max-cases", type=int, help="use only the first N test cases")

    one_k = {"type": int, "help": "sampling steps K (default: the run's)"}
    evaluate = add("evaluate", "accuracy table: Dice, IoU, HD95, ASD, per-case CSV, report.html")
    evaluate.add_argument("--steps", **one_k)
    seeded(evaluate, max_cases=False)
    steps = add("steps", "Dice and time per image against the number of sampling steps K")
    k_values = [1, 2, 5, 10, 20, 50, 100, 1000]
    steps.add_argument(
        "--steps", type=_comma_list(int), default=k_values, help="values of K (%(default)s)"
    )
    steps.add_argument("--repeats", type=int, default=3, help="timed runs after a warm-up")
    seeded(steps)
    noise = add("noise", "Dice against Gaussian noise added to the test images", True)
    sigmas = [0, 0.05, 0.1, 0.15, 0.2]
    noise.add_argument(
        "--sigmas", type=_comma_list(float), default=sigmas, help="noise SDs (%(default)s)"
    )
    noise.add_argument("--steps", **one_k)
    seeded(noise)
    timing = add("timing", "time per image and peak memory against image size", True, False)
    sizes_help = "sizes N or NxN[xN] (default: 128,256,512 in 2D; 32,64,128 in 3D)"
    timing.add_argument("--sizes", type=_comma_list(str), help=sizes_help)
    timing.add_argument("--steps", **one_k)
    timing.add_argument("--repeats", type=int, default=5, help="timed runs after a warm-up")
    diagnose = add(
        "diagnose",
        "what limits a run: label autoencoder ceiling, sampler at each K, the t = T map",
    )
    diagnose.add_argument(
        "--steps", type=_comma_list(int), default=[1, 2, 50], help="values of K (%(default)s)"
    )
    diagnose.add_argument(
        "--split", default="val", help="split of a dataset with splits (default: val)"
    )
    seeded(diagnose)
    uncertainty = add("uncertainty", "uncertainty maps; does the SD point at errors?")
    uncertainty.add_argument("--samples", type=int, default=20, help="samples per image")
    uncertainty.add_argument("--steps", **one_k)
    seeded(uncertainty)


def cmd_experiment(args: argparse.Namespace) -> int:
    import importlib

    from ldseg.experiments.results import free_dir

    module = importlib.import_module(f"ldseg.experiments.{args.experiment}")
    out = args.out or free_dir(Path(f"ldseg-{args.experiment}"))
    options = {
        key: value
        for key, value in vars(args).items()
        if key not in ("command", "experiment", "debug", "argv", "out")
    }
    command = shlex.join(["ldseg", *getattr(args, "argv", sys.argv[1:])])
    getattr(module, f"run_{args.experiment}")(out_dir=out, command=command, **options)
    print(f"results: {out / 'results.json'}")
    return 0


def _add_check_data_parser(sub) -> None:
    check = sub.add_parser(
        "check-data", help="check a dataset: pairs, shapes, geometry, labels; exit 1 if unusable"
    )
    check.add_argument("data", type=Path, help="dataset folder or CSV/JSON pair list")
    check.add_argument("--classes", type=int, help="declared number of classes (with background)")
    check.add_argument("--layout", choices=LAYOUTS, help="dataset layout (default: detected)")
    check.add_argument("--binarize", type=float, help="foreground is mask > T (127 for JPEG)")
    check.add_argument("--config", type=Path, help="preset whose data settings apply (configs/)")
    check.add_argument("--quiet", action="store_true", help="no progress bars")


def cmd_check_data(args: argparse.Namespace) -> int:
    from ldseg.config import Config
    from ldseg.data.check import check_dataset, format_check

    config = Config.load(args.config, preset=True) if args.config else Config()
    data = config.data
    data.layout = args.layout or data.layout
    data.binarize = data.binarize if args.binarize is None else args.binarize
    classes = args.classes or config.model.num_classes
    result = check_dataset(args.data, data, classes, progress=not args.quiet)
    print(format_check(result))
    return 0 if result.ok else 1


def _add_export_parser(sub) -> None:
    export = sub.add_parser(
        "export",
        help="write a run as one TorchScript or ONNX file: raw image -> (mask, probabilities)",
        description="Write one file that maps raw images (B, C, *size) at the run's training "
        "size to (mask, probabilities) with K DDIM steps from the fixed initial noise of seed 0 "
        "(intensity normalisation included; reading, channel conversion and resizing are not). "
        "The file is checked against PyTorch before it is written.",
    )
    export.add_argument("--run", type=Path, required=True, help="trained run folder")
    export.add_argument("--format", choices=("torchscript", "onnx"), required=True)
    export.add_argument("--steps", type=int, help="DDIM steps K (default: the run's)")
    export.add_argument("--weights", default="best", choices=("best", "last"))
    export.add_argument("--out", type=Path, required=True, help="file to write (.pt, .onnx)")


def cmd_export(args: argparse.Namespace) -> int:
    from ldseg.inference import Predictor
    from ldseg.inference.export import export_run

    predictor = Predictor.from_run(args.run, weights=args.weights)
    difference = export_run(predictor, args.format, args.out, args.steps, run=args.run)
    print(
        f"wrote {args.out} ({args.format}); largest probability difference to PyTorch "
        f"on random images: {difference:.1e}"
    )
    return 0


COMMANDS = {
    "demo": cmd_demo,
    "train": cmd_train,
    "predict": cmd_predict,
    "evaluate": cmd_evaluate,
    "experiment": cmd_experiment,
    "check-data": cmd_check_data,
    "compare": cmd_compare,
    "export": cmd_export,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # for results.json
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
