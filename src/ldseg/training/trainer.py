"""End-to-end LDSeg training (Algorithm 1) into a run folder.

A run folder holds ``config.json``, ``best.safetensors`` and ``last.safetensors`` (all four
networks plus the EMA denoiser that sampling uses), ``metrics.csv`` and ``curves.png``.
"""

from __future__ import annotations

import csv
import io
import math
import time
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from monai.data import DataLoader, Dataset
from monai.utils import set_determinism
from torch.optim.swa_utils import AveragedModel
from tqdm import tqdm

from ldseg.config import Config
from ldseg.data.dataset import Case, load_cases
from ldseg.data.geometry import window_inference
from ldseg.data.io import Pair
from ldseg.data.transforms import plain_tensor, train_transform
from ldseg.diffusion import make_sampler
from ldseg.errors import LDSegError
from ldseg.evaluation.metrics import dice_iou
from ldseg.models import build_model
from ldseg.training.checkpoint import model_tensors, save_weights
from ldseg.utils import atomic_write, atomic_write_text

RUN_FILES = ("config.json", "best.safetensors", "last.safetensors", "metrics.csv")


@dataclass
class TrainResult:
    """What a finished training run reports."""

    run_dir: Path
    best_epoch: int
    best_val_dice: float
    epochs: int
    seconds: float


def ema_model(module: torch.nn.Module, decay: float) -> AveragedModel:
    """EMA copy of a module, with the usual warm-up ``min(decay, (1 + n) / (10 + n))``."""

    def ema_update(
        averaged: torch.Tensor, current: torch.Tensor, num: torch.Tensor
    ) -> torch.Tensor:
        d = min(decay, (1.0 + float(num)) / (10.0 + float(num)))
        return d * averaged + (1.0 - d) * current

    return AveragedModel(module, avg_fn=ema_update, use_buffers=True)


def split_validation(pairs: Sequence[Pair], fraction: float, seed: int) -> tuple[list, list]:
    """Hold out ``ceil(fraction * n)`` pairs (at least 1 when there are 2 or more) by seed."""
    if len(pairs) < 2 or fraction <= 0:
        return list(pairs), []
    order = np.random.default_rng(seed).permutation(len(pairs))
    n_val = max(1, math.ceil(fraction * len(pairs)))
    val = sorted(order[:n_val].tolist())
    return [p for i, p in enumerate(pairs) if i not in set(val)], [pairs[i] for i in val]


@contextmanager
def swapped(model: torch.nn.Module, name: str | None, module: torch.nn.Module | None):
    """Temporarily put ``module`` (an EMA copy) in place of ``model.<name>``."""
    if name is None or module is None:
        yield model
        return
    original = getattr(model, name)
    setattr(model, name, module)
    try:
        yield model
    finally:
        setattr(model, name, original)


@torch.no_grad()
def validate(
    model: torch.nn.Module,
    cases: Sequence[Case],
    config: Config,
    ema_module: torch.nn.Module | None = None,
    batch_size: int = 8,
) -> np.ndarray:
    """Per-class Dice (NaN-excluding mean over cases) with the configured few-step sampler.

    With ``ema_module`` the model samples with it in place of its ``ema_target`` submodule.
    """
    model.eval()
    sampler = None
    if hasattr(model, "schedule"):
        sampler = make_sampler(config.sampling.sampler, model.schedule)
        sampler.set_timesteps(config.sampling.steps)
    generator = torch.Generator().manual_seed(config.train.seed)
    scores = []
    with swapped(model, getattr(model, "ema_target", None), ema_module):
        batch_size = batch_size if config.data.resize else 1  # native grids differ in size
        for start in range(0, len(cases), batch_size):
            batch = cases[start : start + batch_size]
            images = torch.stack([c["image"] for c in batch])
            probs = window_inference(
                lambda x: model.sample(x, sampler, generator), images, config.data
            )
            for pred, case in zip(probs.argmax(1), batch, strict=True):
                scores.append(dice_iou(pred.numpy(), case["mask"][0].numpy(), model.num_classes)[0])
    return np.nanmean(np.array(scores, dtype=float), axis=0) if scores else np.array([])


def check_new_run_dir(out_dir: Path) -> None:
    """Refuse to train into a folder that already holds a run (nothing gets overwritten)."""
    existing = [name for name in RUN_FILES if (out_dir / name).exists()]
    if existing:
        raise LDSegError(
            f"{out_dir}: already holds a run ({', '.join(existing)}); choose another --out"
        )


def train(
    config: Config,
    train_pairs: Sequence[Pair],
    val_pairs: Sequence[Pair] | None,
    out_dir: Path,
    progress: bool = True,
) -> TrainResult:
    """Train LDSeg end to end and write the run folder; returns the best validation Dice."""
    out_dir = Path(out_dir)
    check_new_run_dir(out_dir)
    cfg = config
    set_determinism(seed=cfg.train.seed)
    if val_pairs is None:
        train_pairs, val_pairs = split_validation(
            train_pairs, cfg.data.val_fraction, cfg.train.seed
        )
    size = cfg.data.size
    train_cases, in_channels, num_classes = load_cases(
        train_pairs,
        size,
        cfg.data.intensity,
        cfg.model.in_channels,
        cfg.model.num_classes,
        desc="loading training data",
        progress=progress,
        options=cfg.data,
    )
    cfg.model.in_channels, cfg.model.num_classes = in_channels, num_classes
    cfg.validate("config")
    val_cases = (
        load_cases(
            val_pairs,
            size,
            cfg.data.intensity,
            in_channels,
            num_classes,
            "loading validation data",
            progress,
            cfg.data,
        )[0]
        if val_pairs
        else []
    )
    model = build_model(cfg)
    try:
        model.check_size(size)
    except ValueError as err:
        raise LDSegError(f"data.size: {err}") from None
    ema_target = getattr(model, "ema_target", None)
    ema = ema_model(getattr(model, ema_target), cfg.train.ema_decay) if ema_target else None
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.train.lr)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=cfg.train.lr_decay)
    augment = [*cfg.data.augment, *(["flip"] if cfg.train.flips else [])]
    transform = train_transform(size, not cfg.data.resize, augment, cfg.train.seed)
    generator = torch.Generator().manual_seed(cfg.train.seed)
    loader = DataLoader(
        Dataset(train_cases, transform=transform),
        batch_size=min(cfg.train.batch_size, len(train_cases)),
        shuffle=True,
        drop_last=len(train_cases) >= cfg.train.batch_size,
        generator=torch.Generator().manual_seed(cfg.train.seed),
        num_workers=0,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    cfg.save(out_dir / "config.json")

    class_labels = [str(c) for c in range(num_classes)]
    header = ["epoch", "lr", "loss", "ce", "dice_loss", "noise_mse", "val_mean_dice"]
    header += [f"val_dice_{c}" for c in class_labels] + ["seconds"]
    rows: list[dict[str, float]] = []
    best_dice, best_epoch = -1.0, 0
    start = time.perf_counter()
    epochs = tqdm(range(1, cfg.train.epochs + 1), desc="epochs", disable=not progress)
    for epoch in epochs:
        if hasattr(model, "stages"):  # two-stage: first half autoencoder, second half diffusion
            model.set_stage(model.stages[0 if epoch <= math.ceil(cfg.train.epochs / 2) else 1])
        model.train()
        sums = np.zeros(4)
        batches = 0
        for batch in loader:
            images, masks = plain_tensor(batch["image"]), plain_tensor(batch["mask"])
            loss = model(images, masks, generator=generator)
            if not torch.isfinite(loss.total):
                raise LDSegError(
                    f"{out_dir}: non-finite loss at epoch {epoch} (ce={loss.ce.item():.4g}, "
                    f"dice={loss.dice.item():.4g}, noise={loss.noise_mse.item():.4g}); "
                    "the last good checkpoint is kept"
                )
            optimizer.zero_grad(set_to_none=True)
            loss.total.backward()
            optimizer.step()
            if ema is not None:
                ema.update_parameters(getattr(model, ema_target))
            sums += [t.item() for t in loss]
            batches += 1
        lr = optimizer.param_groups[0]["lr"]
        scheduler.step()
        row = dict(zip(header[:6], [epoch, lr, *(sums / max(batches, 1))], strict=True))
        out_of_time = 0 < cfg.train.max_minutes * 60 <= time.perf_counter() - start
        last_epoch = epoch == cfg.train.epochs or out_of_time
        is_val_epoch = epoch % cfg.train.val_every == 0 or last_epoch
        val_dice = (
            validate(model, val_cases, cfg, ema and ema.module)
            if val_cases and is_val_epoch
            else None
        )
        if val_dice is not None:
            mean_fg = float(np.nanmean(val_dice[1:]))
            row["val_mean_dice"] = mean_fg
            row |= {f"val_dice_{c}": float(d) for c, d in zip(class_labels, val_dice, strict=True)}
        row["seconds"] = time.perf_counter() - start
        rows.append(row)
        tensors = model_tensors(model, ema and ema.module)
        metadata = {"epoch": str(epoch), "format": "ldseg-1"}
        save_weights(out_dir / "last.safetensors", tensors, metadata)
        # Without validation data the last epoch is the best one.
        score = row.get("val_mean_dice", -1.0 if val_cases else float(epoch))
        if score > best_dice:
            best_dice, best_epoch = score, epoch
            save_weights(out_dir / "best.safetensors", tensors, metadata)
        write_metrics(out_dir, header, rows)
        postfix = {"loss": f"{row['loss']:.3f}"}
        if val_cases and best_epoch:
            postfix["best_val_dice"] = f"{best_dice:.3f}"
        epochs.set_postfix(postfix)
        if out_of_time:
            break
    plot_curves(out_dir / "curves.png", rows, class_labels)
    return TrainResult(
        out_dir,
        best_epoch,
        best_dice if val_cases else float("nan"),
        len(rows),
        time.perf_counter() - start,
    )


def write_metrics(out_dir: Path, header: list[str], rows: list[dict[str, float]]) -> None:
    """Write ``metrics.csv`` (one row per epoch; validation columns empty between validations)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=header, restval="")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(out_dir / "metrics.csv", buffer.getvalue())


def plot_curves(path: Path, rows: list[dict[str, float]], class_labels: list[str]) -> None:
    """Training loss terms and validation Dice per class against epochs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_dice) = plt.subplots(1, 2, figsize=(11, 4))
    epochs = [r["epoch"] for r in rows]
    for key in ("loss", "ce", "dice_loss", "noise_mse"):
        ax_loss.plot(epochs, [r[key] for r in rows], label=key)
    ax_loss.set(xlabel="epoch", ylabel="training loss", yscale="log", title="Training loss")
    ax_loss.legend()
    val = [r for r in rows if "val_mean_dice" in r]
    for label in class_labels[1:]:
        ax_dice.plot(
            [r["epoch"] for r in val],
            [r[f"val_dice_{label}"] for r in val],
            "o-",
            label=f"class {label}",
        )
    ax_dice.plot(
        [r["epoch"] for r in val], [r["val_mean_dice"] for r in val], "k--", label="mean foreground"
    )
    ax_dice.set(
        xlabel="epoch",
        ylabel="validation Dice",
        ylim=(0, 1),
        title="Validation Dice (EMA, few-step sampler)",
    )
    ax_dice.legend()
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=100))
    plt.close(fig)
