"""``ldseg train``: a new run folder from a dataset (a preset and overrides), or ``--resume``."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ldseg.cli.common import at_least, classes, count, non_negative, positive, positive_int
from ldseg.config import LAYOUTS, PRECISIONS, Config
from ldseg.errors import LDSegError
from ldseg.models import MODEL_NAMES

# Options that override a config entry: option dest -> (section, key).
OVERRIDES = {
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


def add_parser(sub: argparse._SubParsersAction) -> None:
    train = sub.add_parser(
        "train",
        help="train a model into a run folder (torchrun -m ldseg train ...: data-parallel)",
    )
    train.add_argument(
        "--data",
        type=Path,
        help="dataset folder or pair list (see check-data); with --resume: the data's new root",
    )
    train.add_argument(
        "--resume",
        type=Path,
        metavar="RUN_DIR",
        help="continue an interrupted run from its last epoch, with its own config and data",
    )
    train.add_argument(
        "--init-from",
        type=Path,
        metavar="RUN_DIR",
        help="start from RUN_DIR's best weights (fine-tuning; the same architecture)",
    )
    train.add_argument(
        "--val-data", type=Path, help="validation set (default: DATA's val split, or hold out 10%%)"
    )
    train.add_argument("--layout", choices=LAYOUTS, help="dataset layout (default: detected)")
    train.add_argument(
        "--folds",
        type=at_least(2),
        metavar="N",
        help="cross-validation: split DATA's training cases into N folds by patient",
    )
    train.add_argument(
        "--fold", type=count, metavar="K", help="the fold (0..N-1) whose cases validate this run"
    )
    train.add_argument(
        "--splits",
        type=Path,
        metavar="FILE",
        help="reuse the folds of a splits.json (e.g. another fold's run folder)",
    )
    train.add_argument("--out", type=Path, help="run folder to create (needed with --data)")
    train.add_argument(
        "--config",
        type=Path,
        action="append",
        help="YAML or JSON preset (see configs/); repeat it to layer presets, later ones win",
    )
    train.add_argument("--model", choices=MODEL_NAMES, help="model to train (default: ldseg)")
    train.add_argument("--quiet", action="store_true", help="no progress bars")
    train.add_argument(
        "--size", type=positive_int, nargs="+", metavar="N", help="training size H W [D]"
    )
    train.add_argument("--classes", type=classes, help="number of classes including background")
    train.add_argument(
        "--epochs",
        type=positive_int,
        help="training epochs (with --resume: extend a finished run to N in all)",
    )
    train.add_argument("--batch-size", type=positive_int, help="images per batch and process")
    train.add_argument("--lr", type=positive, help="initial learning rate")
    train.add_argument("--seed", type=count, help="random seed")
    train.add_argument(
        "--precision",
        choices=PRECISIONS,
        help="fp32 (default), bf16 autocast, or fp16 autocast with gradient scaling (GPU only)",
    )
    train.add_argument(
        "--sampling-steps",
        type=positive_int,
        help="steps K for validation and the run's default for predict (2; 50 suits "
        "pixel-diffusion)",
    )
    train.add_argument(
        "--max-minutes",
        type=non_negative,
        help="wall-clock budget; stops after the epoch that ends it; a cosine rate anneals over it",
    )
    train.add_argument(
        "--tensorboard",
        action="store_true",
        help="also log loss terms, learning rate, validation Dice per class and validation "
        "overlays to RUN_DIR/tensorboard (needs pip install 'ldseg[tensorboard]')",
    )
    train.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ldseg.training import resume, train
    from ldseg.training.tensorboard import require_tensorboard

    if args.tensorboard:
        require_tensorboard()
    if args.resume:
        extra = ["init_from", "val_data", "layout", "out", "config", "folds", "fold", "splits"]
        extra += [arg for arg in OVERRIDES if arg != "epochs"]
        given = ["--" + arg.replace("_", "-") for arg in extra if getattr(args, arg) is not None]
        if given:
            raise LDSegError(
                f"--resume continues {args.resume} with its own config and data; "
                f"drop {' '.join(given)}"
            )
        root = data_root(args.data) if args.data else None
        result = resume(args.resume, not args.quiet, args.epochs, args.tensorboard, data_root=root)
    elif args.data is None:
        raise LDSegError("train needs --data DIR (a new run) or --resume RUN_DIR")
    elif args.out is None:
        raise LDSegError("train --data needs --out RUN_DIR, the run folder to create")
    else:
        config, train_pairs, val_pairs, splits = new_training(args)
        root = data_root(args.data)
        result = train(
            config,
            train_pairs,
            val_pairs,
            args.out,
            not args.quiet,
            args.init_from,
            args.tensorboard,
            splits,
            root,
        )
    if os.environ.get("RANK", "0") == "0":  # one report under torchrun
        print(
            f"trained {result.epochs} epochs in {result.seconds:.0f} s; best validation Dice "
            f"{result.best_val_dice:.4f} at epoch {result.best_epoch}; "
            f"run folder {result.run_dir}"
        )
    return 0


def data_root(data: Path) -> Path:
    """The folder a run records its data paths relative to: ``--data``, or a pair list's."""
    if not data.exists():
        raise LDSegError(f"--data {data}: no such file or folder")
    return data if data.is_dir() else data.parent


def new_training(args: argparse.Namespace) -> tuple:
    """The config (preset and overrides), the training and validation pairs of a new run and
    the folds of ``--splits``."""
    from ldseg.data.folds import read_splits, unique_stems
    from ldseg.data.layouts import configure, discover

    config = Config.load_presets(args.config or [])
    for arg, (section, key) in OVERRIDES.items():
        value = getattr(args, arg)
        if value is not None:
            setattr(getattr(config, section), key, value)
    layout = args.layout or config.data.layout
    spec = discover(args.data, layout)
    configure(config, spec)
    train_pairs = spec.pairs("train")
    splits = read_splits(args.splits, unique_stems(train_pairs)) if args.splits else None
    folds = choose_fold(args, config, splits and len(splits))
    config.validate("command line")
    val_pairs = discover(args.val_data, layout).pairs("val") if args.val_data else None
    if not folds:  # with folds the validation cases are a fold's (DATA's val split unused)
        val_pairs = val_pairs or spec.splits.get("val")
    return config, train_pairs, val_pairs, splits


def choose_fold(args: argparse.Namespace, config: Config, in_file: int | None) -> int:
    """Set ``data.folds`` and ``data.fold`` from ``--folds``, ``--fold`` and ``--splits``
    (``in_file`` folds) over the preset's; returns the number of folds (0: none)."""
    if in_file and args.folds and args.folds != in_file:
        raise LDSegError(f"--folds {args.folds}: {args.splits} has {in_file} folds")
    if (args.folds or in_file) and args.fold is None:
        raise LDSegError(f"--folds needs --fold K, the fold (0..{(args.folds or in_file) - 1})")
    folds = args.folds or in_file or config.data.folds
    fold = config.data.fold if args.fold is None else args.fold
    if not folds:
        if args.fold is not None:
            raise LDSegError("--fold needs --folds N (or --splits FILE)")
        return 0
    if fold >= folds:
        raise LDSegError(f"--fold {fold}: outside 0..{folds - 1} (--folds {folds})")
    config.data.folds, config.data.fold = folds, fold
    return folds
