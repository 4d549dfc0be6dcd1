"""End-to-end training (Algorithm 1 for LDSeg) into a run folder, resumable and data-parallel.

``train`` starts a new :class:`~ldseg.runs.RunFolder`, ``resume`` continues one; after every
epoch rank 0 validates and writes the training state, ``last``/``best.safetensors`` and
``metrics.csv`` (``curves.png`` at the end).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from monai.data import list_data_collate
from monai.utils import set_determinism
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from ldseg.config import Config
from ldseg.data.folds import Splits
from ldseg.data.lazy import LazyCases
from ldseg.data.pairing import Pair
from ldseg.data.transforms import plain_tensor, train_transform
from ldseg.errors import LDSegError
from ldseg.evaluation.metrics import foreground_mean
from ldseg.models import TrainingLoss, as_built, build_model
from ldseg.runs import RunFolder
from ldseg.runs.guard import RUN_FILES, check_outputs
from ldseg.runs.lock import training_lock
from ldseg.runs.state import Progress, load_state, restore_schedule, save_state
from ldseg.runs.weights import load_model_tensors, load_weights
from ldseg.training.curves import LOSS_COLUMNS, plot_curves
from ldseg.training.distributed import ProcessGroup, loader_workers, process_group
from ldseg.training.ema import ema_model
from ldseg.training.optimizer import build_optimizer, build_schedule, run_progress
from ldseg.training.postprocess import record_postprocessing
from ldseg.training.samples import Samples, load_samples
from ldseg.training.seeding import SeededCases, case_generators, seed_process
from ldseg.training.tensorboard import TensorBoardLog
from ldseg.training.validation import hold_out, validate

AUTOCAST_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass
class TrainResult:
    """What a finished training run reports."""

    run_dir: Path
    best_epoch: int
    best_val_dice: float
    epochs: int
    seconds: float


def train(
    config: Config,
    train_pairs: Sequence[Pair],
    val_pairs: Sequence[Pair] | None,
    out_dir: Path,
    progress: bool = True,
    init_from: Path | None = None,
    tensorboard: bool = False,
    splits: Splits | None = None,
    data_root: Path | None = None,
) -> TrainResult:
    """Train into a new run folder; returns the best validation Dice. Validation: ``hold_out``.
    ``init_from``: that run's best weights as the start; ``tensorboard``: log to RUN/tensorboard;
    data paths are recorded relative to ``data_root``. Under ``torchrun`` every process calls
    this and rank 0 writes the run folder, holding its lock (``ldseg.runs.lock``) to the end."""
    folder = RunFolder(out_dir)
    cfg = as_built(config)  # the run folder records what is built
    with training_lock(out_dir), process_group() as group:
        folder.check_new()
        inputs = [path for pair in (*train_pairs, *(val_pairs or ())) for path in pair.images]
        inputs += [pair.mask for pair in (*train_pairs, *(val_pairs or ()))]
        check_outputs([folder.path / name for name in RUN_FILES], inputs, own=[folder.path])
        group.barrier()  # every process has checked before rank 0 writes
        set_determinism(seed=cfg.train.seed)
        train_pairs, val_pairs, splits = hold_out(cfg, train_pairs, val_pairs, splits)
        show = progress and group.is_main
        trainer = Trainer(cfg, *load_samples(cfg, train_pairs, val_pairs, show), group)
        trainer.log = TensorBoardLog(folder.path if tensorboard and group.is_main else None, cfg)
        if init_from is not None:
            trainer.initialise(RunFolder(init_from).weights_path("best"))
        pairs = (train_pairs, val_pairs, splits, data_root)
        state = folder.start(cfg, *pairs) if group.is_main else Progress()
        return trainer.run(folder, state, show)


def resume(
    run_dir: Path,
    progress: bool = True,
    epochs: int | None = None,
    tensorboard: bool = False,
    data_root: Path | None = None,
) -> TrainResult:
    """Continue a run from its last completed epoch with its recorded config and data (under
    ``data_root`` when the data moved); the result equals an uninterrupted run's."""
    folder = RunFolder(run_dir)
    with training_lock(run_dir), process_group() as group:
        if epochs is not None and group.is_main:
            folder.extend(epochs)  # a finished run, trained on to ``epochs`` in all
        group.barrier()
        cfg, state = folder.resume_state()
        set_determinism(seed=cfg.train.seed)
        show = progress and group.is_main
        train_pairs, val_pairs = folder.data_lists(data_root)
        trainer = Trainer(cfg, *load_samples(cfg, train_pairs, val_pairs, show), group)
        trainer.log = TensorBoardLog(folder.path if tensorboard and group.is_main else None, cfg)
        if state.epoch:
            trainer.restore(folder.state_path, state)
        if group.is_main:
            folder.remove_temporaries()
            if state.epoch:  # the files a kill may have kept from being written
                trainer.write_outputs(folder, state)
        return trainer.run(folder, state, show)


class Trainer:
    """One training process: the model, its EMA, optimiser, schedule and data. ``run`` trains
    the remaining epochs; rank 0 validates and, after every epoch, writes the training state
    first and then ``last``/``best.safetensors`` and ``metrics.csv``."""

    def __init__(
        self, cfg: Config, train_cases: Samples, val_cases: Samples, group: ProcessGroup
    ) -> None:
        self.cfg, self.val_cases, self.group = cfg, val_cases, group
        self.log = TensorBoardLog(None, cfg)  # train and resume set rank 0's when asked for
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
        target = self.model.ema_target
        self.ema = ema_model(self.model.get_submodule(target), train.ema_decay) if target else None
        self.optimizer = build_optimizer(self.model, train.lr)
        self.scheduler = build_schedule(self.optimizer, train)
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
            num_workers=loader_workers(group, isinstance(train_cases, LazyCases)),
            pin_memory=group.device.type == "cuda",
        )
        self.class_labels = [str(c) for c in range(cfg.model.num_classes)]
        self.header = ["epoch", "lr", *LOSS_COLUMNS, "val_mean_dice"]
        self.header += [f"val_dice_{c}" for c in self.class_labels] + ["seconds"]

    def initialise(self, path: Path) -> None:
        """Start from a run's weights (its EMA copy where it has one), EMA included."""
        if not path.is_file():
            raise LDSegError(f"--init-from: {path} does not exist (not a finished run folder)")
        try:
            load_model_tensors(self.model, load_weights(path), path)
        except LDSegError as err:
            raise LDSegError(f"--init-from: {err}") from None
        if self.ema is not None:
            target = self.model.get_submodule(self.model.ema_target)
            self.ema.module.load_state_dict(target.state_dict())

    def restore(self, path: Path, state: Progress) -> None:
        """Continue from a training state (model, EMA, optimiser, schedule, scaler)."""
        load_state(path, self.model, self.ema, self.optimizer)
        restore_schedule(state, self.scheduler, self.scaler, path)

    def run(self, folder: RunFolder, state: Progress, show: bool) -> TrainResult:
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
        net = None
        for epoch in epochs:
            # A model trained in stages changes which parameters train: DDP must see it.
            if model.begin_epoch(epoch, cfg.train.epochs) or net is None:
                net = group.wrap(model, find_unused=model.unused_parameters)
            sums = self.train_epoch(net, epoch, folder.path)
            lr = self.optimizer.param_groups[0]["lr"]
            seconds = group.main_value(time.perf_counter() - start)  # every rank: rank 0's clock
            self.scheduler.step(run_progress(cfg.train, epoch, seconds))
            out_of_time = 0 < cfg.train.max_minutes * 60 <= seconds
            last_epoch = epoch == cfg.train.epochs or out_of_time
            if group.is_main:
                row = dict(zip(self.header[:7], [epoch, lr, *sums], strict=True))
                self.end_epoch(folder, state, row, last_epoch, start)
                postfix = {"loss": f"{row['loss']:.3f}"}
                if self.val_cases and state.best_epoch:
                    postfix["best_val_dice"] = f"{state.best_score:.3f}"
                epochs.set_postfix(postfix)
            group.barrier()  # the others wait while rank 0 validates and writes
            if out_of_time:
                break
        if group.is_main:
            plot_curves(folder.curves_path, state.rows, self.cfg.data.class_names)
            record_postprocessing(folder, self.val_cases, group.device)
            self.log.close()
        return TrainResult(
            folder.path,
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
        sums, batches = np.zeros(len(TrainingLoss._fields)), 0
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
                    f"noise={noise:.4g}, path={path:.4g}); training stopped, {kept}"
                )
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss.total).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
            if self.ema is not None:
                self.ema.update_parameters(self.model.get_submodule(self.model.ema_target))
            sums += terms.tolist()
            batches += 1
        return sums / max(batches, 1)

    def end_epoch(
        self, folder: RunFolder, state: Progress, row: dict, last_epoch: bool, start: float
    ) -> None:
        """Rank 0: validate, then write the training state and the run folder's files."""
        cfg, val_cases, epoch = self.cfg, self.val_cases, int(row["epoch"])
        if val_cases and (epoch % cfg.train.val_every == 0 or last_epoch):
            val_dice = validate(self.model, val_cases, cfg, self.ema and self.ema.module)
            row["val_mean_dice"] = foreground_mean(val_dice)
            dice = zip(self.class_labels, val_dice, strict=True)
            row |= {f"val_dice_{c}": float(d) for c, d in dice}
            self.log.overlays(self.model, val_cases, epoch, self.ema and self.ema.module)
        row["seconds"] = time.perf_counter() - start
        state.rows.append(row)
        self.log.scalars(row)
        # Without validation data the last epoch is the best one.
        score = row.get("val_mean_dice", -1.0 if val_cases else float(epoch))
        if score > state.best_score:
            state.best_score, state.best_epoch = score, epoch
        state.epoch, state.seconds, state.finished = epoch, row["seconds"], last_epoch
        state.scheduler, state.scaler = self.scheduler.state_dict(), self.scaler.state_dict()
        save_state(folder.state_path, self.model, self.ema, self.optimizer, state)
        self.write_outputs(folder, state)

    def write_outputs(self, folder: RunFolder, state: Progress) -> None:
        """``last.safetensors``, ``best.safetensors`` (if this epoch is the best) and
        ``metrics.csv`` of the state's epoch."""
        ema = self.ema and self.ema.module
        folder.save_weights(self.model, ema, state.epoch, best=state.best_epoch == state.epoch)
        folder.write_metrics(self.header, state.rows)
