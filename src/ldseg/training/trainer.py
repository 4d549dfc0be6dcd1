"""End-to-end LDSeg training (Algorithm 1) into a run folder, resumable and data-parallel.

A run folder holds ``config.json``, ``best.safetensors`` and ``last.safetensors`` (all four
networks plus the EMA denoiser that sampling uses), ``metrics.csv`` and ``curves.png``, and
for ``--resume`` ``train_state.safetensors`` and ``train_data.json`` (see ``state``).
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
from monai.data import list_data_collate
from monai.utils import set_determinism
from torch import nn
from torch.optim.swa_utils import AveragedModel
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from ldseg.config import Config
from ldseg.data.dataset import Case, load_cases
from ldseg.data.geometry import window_inference
from ldseg.data.io import Pair
from ldseg.data.transforms import plain_tensor, train_transform
from ldseg.errors import LDSegError, RunFolderError
from ldseg.evaluation.metrics import dice_iou
from ldseg.model import LDSegLoss
from ldseg.models import build_model
from ldseg.training.checkpoint import model_tensors, save_weights
from ldseg.training.distributed import ProcessGroup, loader_workers, process_group
from ldseg.training.seeding import SeededCases, case_generators, seed_process
from ldseg.training.state import (
    DATA_FILE,
    STATE_FILE,
    Progress,
    file_sha256,
    load_state,
    read_data_list,
    read_progress,
    restore_schedule,
    save_state,
    write_data_list,
)
from ldseg.utils import atomic_write, atomic_write_text, stale_temporaries

LOSS_COLUMNS = ("loss", "ce", "dice_loss", "noise_mse", "sampling_loss")  # LDSegLoss's fields
AUTOCAST_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
RUN_FILES = (
    "config.json",
    "best.safetensors",
    "last.safetensors",
    "metrics.csv",
    STATE_FILE,
    DATA_FILE,
)


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
    sampler = model.make_sampler(config.sampling.sampler, config.sampling.steps)
    device = next(model.parameters()).device
    generator = torch.Generator(device).manual_seed(config.train.seed)
    scores = []
    with swapped(model, getattr(model, "ema_target", None), ema_module):
        batch_size = batch_size if config.data.resize else 1  # native grids differ in size
        for start in range(0, len(cases), batch_size):
            batch = cases[start : start + batch_size]
            images = torch.stack([c["image"] for c in batch]).to(device)
            probs = window_inference(
                lambda x: model.sample(x, sampler, generator), images, config.data
            )
            for pred, case in zip(probs.argmax(1).cpu(), batch, strict=True):
                scores.append(dice_iou(pred.numpy(), case["mask"][0].numpy(), model.num_classes)[0])
    return np.nanmean(np.array(scores, dtype=float), axis=0) if scores else np.array([])


def check_new_run_dir(out_dir: Path) -> None:
    """Refuse to train into a folder that already holds a run (nothing gets overwritten)."""
    existing = [name for name in RUN_FILES if (out_dir / name).exists()]
    if existing:
        raise LDSegError(
            f"{out_dir}: already holds a run ({', '.join(existing)}); choose another --out "
            "(or continue it with --resume)"
        )


def train(
    config: Config,
    train_pairs: Sequence[Pair],
    val_pairs: Sequence[Pair] | None,
    out_dir: Path,
    progress: bool = True,
) -> TrainResult:
    """Train end to end into a new run folder; returns the best validation Dice.

    Under ``torchrun`` every process calls this and rank 0 writes the run folder.
    """
    out_dir = Path(out_dir)
    cfg = config
    with process_group() as group:
        check_new_run_dir(out_dir)
        group.barrier()  # every process has checked before rank 0 writes
        set_determinism(seed=cfg.train.seed)
        if val_pairs is None:
            train_pairs, val_pairs = split_validation(
                train_pairs, cfg.data.val_fraction, cfg.train.seed
            )
        show = progress and group.is_main
        trainer = Trainer(cfg, *load_training_cases(cfg, train_pairs, val_pairs, show), group)
        state = Progress()
        if group.is_main:
            out_dir.mkdir(parents=True, exist_ok=True)
            cfg.save(out_dir / "config.json")
            write_data_list(out_dir / DATA_FILE, list(train_pairs), list(val_pairs or []))
            state.config_sha256 = file_sha256(out_dir / "config.json")
            state.data_sha256 = file_sha256(out_dir / DATA_FILE)
        return trainer.run(out_dir, state, show)


def resume(run_dir: Path, progress: bool = True) -> TrainResult:
    """Continue an interrupted run from its last completed epoch, with the config and data
    recorded in the run folder; the result equals an uninterrupted run's."""
    run_dir = Path(run_dir)
    config_path, data_path, state_path = (
        run_dir / name for name in ("config.json", DATA_FILE, STATE_FILE)
    )
    if not data_path.is_file():
        raise RunFolderError(f"{run_dir}: no {DATA_FILE}; not a run that ldseg train started")
    cfg = Config.load(config_path)
    if state_path.exists():
        state = read_progress(state_path)
    elif (run_dir / "last.safetensors").exists():
        raise RunFolderError(f"{state_path}: missing; this run cannot be resumed")
    else:  # killed in its first epoch
        state = Progress(config_sha256=file_sha256(config_path), data_sha256=file_sha256(data_path))
    for path, digest in ((config_path, state.config_sha256), (data_path, state.data_sha256)):
        if file_sha256(path) != digest:
            raise RunFolderError(
                f"{path}: changed since training started (it does not match {STATE_FILE}); "
                "refusing to resume"
            )
    if state.finished:
        raise RunFolderError(
            f"{run_dir}: training finished at epoch {state.epoch} of {cfg.train.epochs}; "
            "nothing to resume"
        )
    with process_group() as group:
        set_determinism(seed=cfg.train.seed)
        show = progress and group.is_main
        train_pairs, val_pairs = read_data_list(data_path)
        trainer = Trainer(cfg, *load_training_cases(cfg, train_pairs, val_pairs, show), group)
        if state.epoch:
            trainer.restore(state_path, state)
        if group.is_main:
            for path in stale_temporaries(run_dir):
                path.unlink()
            if state.epoch:  # the files a kill may have kept from being written
                trainer.write_outputs(run_dir, state)
        return trainer.run(run_dir, state, show)


def load_training_cases(
    cfg: Config, train_pairs: Sequence[Pair], val_pairs: Sequence[Pair] | None, show: bool
) -> tuple[list[Case], list[Case]]:
    """Load the training and validation cases; resolves the config's channels and classes."""
    data = cfg.data
    train_cases, in_channels, num_classes = load_cases(
        train_pairs,
        data.size,
        data.intensity,
        cfg.model.in_channels,
        cfg.model.num_classes,
        desc="loading training data",
        progress=show,
        options=data,
    )
    cfg.model.in_channels, cfg.model.num_classes = in_channels, num_classes
    cfg.validate("config")
    val_cases = (
        load_cases(
            val_pairs,
            data.size,
            data.intensity,
            in_channels,
            num_classes,
            desc="loading validation data",
            progress=show,
            options=data,
        )[0]
        if val_pairs
        else []
    )
    return train_cases, val_cases


class Trainer:
    """One training process: the model, its EMA, optimiser, schedule and data.

    ``run`` trains the remaining epochs; rank 0 validates and, after every epoch, writes the
    training state first and then ``last``/``best.safetensors`` and ``metrics.csv``.
    """

    def __init__(
        self, cfg: Config, train_cases: list[Case], val_cases: list[Case], group: ProcessGroup
    ) -> None:
        self.cfg, self.val_cases, self.group = cfg, val_cases, group
        train = cfg.train
        if train.precision == "fp16" and group.device.type != "cuda":
            raise LDSegError(
                "train.precision fp16 needs a CUDA GPU (gradient scaling); use bf16 or fp32"
            )
        self.dtype = AUTOCAST_DTYPES[train.precision]
        self.model = build_model(cfg)
        try:
            self.model.check_size(cfg.data.size)
        except ValueError as err:
            raise LDSegError(f"data.size: {err}") from None
        self.model.to(group.device)
        self.ema_target = getattr(self.model, "ema_target", None)
        self.ema = (
            ema_model(getattr(self.model, self.ema_target), train.ema_decay)
            if self.ema_target
            else None
        )
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=train.lr)
        self.scheduler = torch.optim.lr_scheduler.ExponentialLR(self.optimizer, train.lr_decay)
        self.scaler = torch.amp.GradScaler(group.device.type, enabled=train.precision == "fp16")
        augment = [*cfg.data.augment, *(["flip"] if train.flips else [])]
        transform = train_transform(cfg.data.size, not cfg.data.resize, augment, train.seed)
        self.dataset = SeededCases(train_cases, transform, train.seed)
        self.sampler = DistributedSampler(
            self.dataset, group.world_size, group.rank, shuffle=True, seed=train.seed
        )
        per_process = len(self.sampler)
        self.loader = DataLoader(
            self.dataset,
            batch_size=min(train.batch_size, per_process),
            sampler=self.sampler,
            drop_last=per_process >= train.batch_size,
            collate_fn=list_data_collate,
            num_workers=loader_workers(group),
            pin_memory=group.device.type == "cuda",
        )
        self.class_labels = [str(c) for c in range(cfg.model.num_classes)]
        self.header = ["epoch", "lr", *LOSS_COLUMNS, "val_mean_dice"]
        self.header += [f"val_dice_{c}" for c in self.class_labels] + ["seconds"]

    def restore(self, path: Path, state: Progress) -> None:
        """Continue from a training state (model, EMA, optimiser, schedule, scaler)."""
        load_state(path, self.model, self.ema, self.optimizer)
        restore_schedule(state, self.scheduler, self.scaler, path)

    def run(self, out_dir: Path, state: Progress, show: bool) -> TrainResult:
        """Train from epoch ``state.epoch + 1`` to the end or the time budget."""
        cfg, group, model = self.cfg, self.group, self.model
        start = time.perf_counter() - state.seconds
        epochs = tqdm(
            range(state.epoch + 1, cfg.train.epochs + 1),
            desc="epochs",
            initial=state.epoch,
            total=cfg.train.epochs,
            disable=not show,
        )
        net, stage = None, None
        for epoch in epochs:
            if hasattr(model, "stages"):  # two-stage: first half autoencoder, then diffusion
                epoch_stage = model.stages[0 if epoch <= math.ceil(cfg.train.epochs / 2) else 1]
                if epoch_stage != stage:
                    stage = epoch_stage
                    model.set_stage(stage)
                    net = None  # DDP must see which parameters train in this stage
            if net is None:
                # The autoencoder stage leaves the image encoder and denoiser without gradients.
                net = group.wrap(model, find_unused=stage == "autoencoder")
            sums = self.train_epoch(net, epoch, out_dir)
            lr = self.optimizer.param_groups[0]["lr"]
            self.scheduler.step()
            out_of_time = group.main_decides(
                0 < cfg.train.max_minutes * 60 <= time.perf_counter() - start
            )
            last_epoch = epoch == cfg.train.epochs or out_of_time
            if group.is_main:
                row = dict(zip(self.header[:7], [epoch, lr, *sums], strict=True))
                self.end_epoch(out_dir, state, row, last_epoch, start)
                postfix = {"loss": f"{row['loss']:.3f}"}
                if self.val_cases and state.best_epoch:
                    postfix["best_val_dice"] = f"{state.best_score:.3f}"
                epochs.set_postfix(postfix)
            group.barrier()  # the others wait while rank 0 validates and writes
            if out_of_time:
                break
        if group.is_main:
            plot_curves(out_dir / "curves.png", state.rows, self.cfg.data.class_names)
        return TrainResult(
            out_dir,
            state.best_epoch,
            state.best_score if self.val_cases else float("nan"),
            len(state.rows),
            time.perf_counter() - start,
        )

    def train_epoch(self, net: nn.Module, epoch: int, out_dir: Path) -> np.ndarray:
        """One pass over this process's share of the data; the mean loss terms of all
        processes. A non-finite loss on any process stops every process."""
        device, seed = self.group.device, self.cfg.train.seed
        seed_process(seed, epoch, self.group.rank)
        self.dataset.set_epoch(epoch)
        self.sampler.set_epoch(epoch)
        net.train()
        sums, batches = np.zeros(len(LDSegLoss._fields)), 0
        for batch in self.loader:
            images = plain_tensor(batch["image"]).to(device)
            masks = plain_tensor(batch["mask"]).to(device)
            generators = case_generators(batch["seed"], device)
            with torch.autocast(device.type, dtype=self.dtype, enabled=self.dtype is not None):
                loss = net(images, masks, generator=generators)
            terms = self.group.mean(
                torch.stack([t.detach().to(device, torch.float32) for t in loss])
            )
            if not torch.isfinite(terms).all():
                ce, dice, noise, path = terms[1:].tolist()
                kept = (
                    f"the last good checkpoint (epoch {epoch - 1}) is kept"
                    if epoch > 1
                    else "no checkpoint was written"
                )
                raise LDSegError(
                    f"{out_dir}: non-finite loss at epoch {epoch} (ce={ce:.4g}, dice={dice:.4g}, "
                    f"noise={noise:.4g}, sampling={path:.4g}); training stopped, {kept}"
                )
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss.total).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
            if self.ema is not None:
                self.ema.update_parameters(getattr(self.model, self.ema_target))
            sums += terms.tolist()
            batches += 1
        return sums / max(batches, 1)

    def end_epoch(
        self, out_dir: Path, state: Progress, row: dict, last_epoch: bool, start: float
    ) -> None:
        """Rank 0: validate, then write the training state and the run folder's files."""
        cfg, val_cases, epoch = self.cfg, self.val_cases, int(row["epoch"])
        if val_cases and (epoch % cfg.train.val_every == 0 or last_epoch):
            val_dice = validate(self.model, val_cases, cfg, self.ema and self.ema.module)
            row["val_mean_dice"] = float(np.nanmean(val_dice[1:]))
            dice = zip(self.class_labels, val_dice, strict=True)
            row |= {f"val_dice_{c}": float(d) for c, d in dice}
        row["seconds"] = time.perf_counter() - start
        state.rows.append(row)
        # Without validation data the last epoch is the best one.
        score = row.get("val_mean_dice", -1.0 if val_cases else float(epoch))
        if score > state.best_score:
            state.best_score, state.best_epoch = score, epoch
        state.epoch, state.seconds, state.finished = epoch, row["seconds"], last_epoch
        state.scheduler, state.scaler = self.scheduler.state_dict(), self.scaler.state_dict()
        save_state(out_dir / STATE_FILE, self.model, self.ema, self.optimizer, state)
        self.write_outputs(out_dir, state)

    def write_outputs(self, out_dir: Path, state: Progress) -> None:
        """``last.safetensors``, ``best.safetensors`` (if this epoch is the best) and
        ``metrics.csv`` of the state's epoch."""
        tensors = model_tensors(self.model, self.ema and self.ema.module)
        metadata = {"epoch": str(state.epoch), "format": "ldseg-1"}
        save_weights(out_dir / "last.safetensors", tensors, metadata)
        if state.best_epoch == state.epoch:
            save_weights(out_dir / "best.safetensors", tensors, metadata)
        write_metrics(out_dir, self.header, state.rows)


def write_metrics(out_dir: Path, header: list[str], rows: list[dict[str, float]]) -> None:
    """Write ``metrics.csv`` (one row per epoch; validation columns empty between validations)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=header, restval="")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(out_dir / "metrics.csv", buffer.getvalue())


def plot_curves(path: Path, rows: list[dict[str, float]], names: list[str] | None) -> None:
    """Training loss terms and validation Dice per class (``names`` if given) against epochs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_dice) = plt.subplots(1, 2, figsize=(11, 4))
    epochs = [r["epoch"] for r in rows]
    for key in LOSS_COLUMNS:
        if key != "sampling_loss" or any(r[key] for r in rows):
            ax_loss.plot(epochs, [r[key] for r in rows], label=key)
    ax_loss.set(xlabel="epoch", ylabel="training loss", yscale="log", title="Training loss")
    ax_loss.legend()
    val = [r for r in rows if "val_mean_dice" in r]
    classes = [k.removeprefix("val_dice_") for k in (val or [{}])[0] if k.startswith("val_dice_")]
    for c in classes[1:]:
        ax_dice.plot(
            [r["epoch"] for r in val],
            [r[f"val_dice_{c}"] for r in val],
            "o-",
            label=names[int(c)] if names else f"class {c}",
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
