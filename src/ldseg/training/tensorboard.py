"""Optional TensorBoard logging of training (``ldseg train --tensorboard``, the ``tensorboard``
extra): per epoch the loss terms, the learning rate and the validation Dice per class, and at
every validation overlays of the first validation cases, into ``RUN/tensorboard``."""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from matplotlib.figure import Figure
from torch import nn

from ldseg.config import Config
from ldseg.errors import LDSegError
from ldseg.evaluation.overlay import class_legend, draw_overlay
from ldseg.inference.pipeline import SegmentationPipeline
from ldseg.models import Segmenter
from ldseg.training.curves import LOSS_COLUMNS
from ldseg.training.ema import using_ema

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter

LOG_DIR = "tensorboard"  # inside the run folder
OVERLAYS = 4  # validation cases shown at every validation


def require_tensorboard() -> None:
    """Raise a one-line error naming the extra when the ``tensorboard`` package is missing."""
    if importlib.util.find_spec("tensorboard") is None:
        raise LDSegError(
            "--tensorboard needs the tensorboard package: pip install 'ldseg[tensorboard]'"
        )


class TensorBoardLog:
    """A run's scalars and validation overlays for TensorBoard, in ``run_dir/tensorboard``
    (created at the first write); without ``run_dir`` nothing is logged."""

    def __init__(self, run_dir: Path | None, cfg: Config) -> None:
        if run_dir is not None:
            require_tensorboard()
        self.run_dir, self.cfg, self._writer = run_dir, cfg, None
        names = cfg.data.class_names
        self.names = list(names) if names else [str(c) for c in range(cfg.model.num_classes)]

    @property
    def writer(self) -> SummaryWriter:
        """The ``SummaryWriter``, opened when first used."""
        if self._writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(str(self.run_dir / LOG_DIR))
        return self._writer

    def scalars(self, row: dict) -> None:
        """A ``metrics.csv`` row: ``train/<loss term>``, ``train/lr``, ``val/mean_dice`` and
        ``val/dice_<class name>`` (validation entries only where the epoch validated)."""
        if self.run_dir is None:
            return
        epoch = int(row["epoch"])
        tags = {f"train/{name}": name for name in (*LOSS_COLUMNS, "lr")}
        tags["val/mean_dice"] = "val_mean_dice"
        tags |= {f"val/dice_{name}": f"val_dice_{c}" for c, name in enumerate(self.names)}
        for tag, column in tags.items():
            value = row.get(column)
            if value is not None and math.isfinite(value):
                self.writer.add_scalar(tag, value, epoch)
        self.writer.flush()

    @torch.no_grad()
    def overlays(
        self, model: Segmenter, cases: Sequence[dict], epoch: int, ema: nn.Module | None
    ) -> None:
        """The first ``OVERLAYS`` validation cases (middle slice of volumes) with the predicted
        mask filled and the truth outlined, sampled with the run's sampler and seed."""
        if self.run_dir is None or not cases:
            return
        cfg, cases = self.cfg, cases[:OVERLAYS]
        model.eval()
        device = next(model.parameters()).device
        sampler = model.make_sampler(cfg.sampling.sampler, cfg.sampling.steps)
        fig = Figure(figsize=(3 * len(cases), 3.4), layout="constrained")
        axes = fig.subplots(1, len(cases), squeeze=False)[0]
        with using_ema(model, ema):
            pipeline = SegmentationPipeline(model, sampler, cfg.data)
            for ax, case in zip(axes, cases, strict=True):
                probs, _ = pipeline(case["image"][None].to(device), seeds=[cfg.train.seed])
                prediction = probs.argmax(1)[0].cpu().numpy()
                image, truth = case["image"].numpy(), case["mask"][0].numpy()
                draw_overlay(ax, image, prediction, truth, str(case["stem"]))
        class_legend(fig, self.names)
        self.writer.add_figure("val/overlays", fig, epoch)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
