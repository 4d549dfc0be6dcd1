"""Validation during training: the held-out pairs, and their Dice with the run's few-step
sampler through the same pipeline that prediction uses."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch import nn

from ldseg.config import Config
from ldseg.data.folds import Splits, fold_pairs, make_folds, unique_stems
from ldseg.data.pairing import Pair
from ldseg.errors import LDSegError
from ldseg.evaluation.metrics import class_statistics, dice_iou
from ldseg.inference.pipeline import SegmentationPipeline
from ldseg.models import Segmenter
from ldseg.training.ema import using_ema


def split_validation(pairs: Sequence[Pair], fraction: float, seed: int) -> tuple[list, list]:
    """Hold out ``ceil(fraction * n)`` pairs (at least 1 when there are 2 or more) by seed."""
    if len(pairs) < 2 or fraction <= 0:
        return list(pairs), []
    order = np.random.default_rng(seed).permutation(len(pairs))
    n_val = max(1, math.ceil(fraction * len(pairs)))
    val = sorted(order[:n_val].tolist())
    return [p for i, p in enumerate(pairs) if i not in set(val)], [pairs[i] for i in val]


def hold_out(
    cfg: Config,
    train_pairs: Sequence[Pair],
    val_pairs: Sequence[Pair] | None,
    splits: Splits | None = None,
) -> tuple[list[Pair], list[Pair], Splits | None]:
    """The training and validation pairs of a new run, and its folds: with ``data.folds`` fold
    ``data.fold`` of ``splits`` (by default made from the pairs' patients and the seed), else
    ``val_pairs``, else a held-out ``data.val_fraction``."""
    data, seed = cfg.data, cfg.train.seed
    if data.folds:
        if val_pairs is not None:
            raise LDSegError("--folds: the folds give the validation cases; drop --val-data")
        splits = splits or make_folds(unique_stems(train_pairs), data.folds, seed)
        return *fold_pairs(train_pairs, splits, data.fold), splits
    if val_pairs is None:
        return *split_validation(train_pairs, data.val_fraction, seed), None
    return list(train_pairs), list(val_pairs), None


def same_shape_batches(samples: Sequence[dict], batch_size: int) -> Iterator[list[dict]]:
    """Consecutive samples of one image shape, at most ``batch_size`` at a time (the slices of
    a volume share its grid; native grids of different cases do not)."""
    batch: list[dict] = []
    for case in samples:
        if batch and (len(batch) == batch_size or case["image"].shape != batch[0]["image"].shape):
            yield batch
            batch = []
        batch.append(case)
    if batch:
        yield batch


@torch.no_grad()
def validate(
    model: Segmenter,
    samples: Sequence[dict],
    config: Config,
    ema: nn.Module | None = None,
    batch_size: int = 8,
) -> np.ndarray:
    """Per-class Dice (mean over cases, empty-in-both left out) of preprocessed samples with the
    configured sampler, every case from the noise of the run's seed, as ``ldseg predict``
    draws it. So samples of one shape are batched, and their sliding windows share model calls,
    without changing a result. With ``ema`` the model samples with it in place of its
    ``ema_target``."""
    model.eval()
    sampler = model.make_sampler(config.sampling.sampler, config.sampling.steps)
    device = next(model.parameters()).device
    scores = []
    with using_ema(model, ema):
        pipeline = SegmentationPipeline(model, sampler, config.data)
        for batch in same_shape_batches(samples, batch_size):
            images = torch.stack([c["image"] for c in batch]).to(device)
            seeds = [config.train.seed] * len(batch)
            probs, _ = pipeline(images, seeds=seeds, batch_size=batch_size)
            for pred, case in zip(probs.argmax(1).cpu(), batch, strict=True):
                scores.append(dice_iou(pred.numpy(), case["mask"][0].numpy(), model.num_classes)[0])
    return class_statistics(scores)[0] if scores else np.array([])
