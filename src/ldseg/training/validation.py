"""Validation during training: the held-out pairs, and their Dice with the run's few-step
sampler through the segmentation and scoring that prediction and the experiments use."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from ldseg.config import Config
from ldseg.data.adapter import sample_input
from ldseg.data.folds import Splits, fold_pairs, make_folds, unique_stems
from ldseg.data.pairing import Pair
from ldseg.errors import LDSegError
from ldseg.inference.predictor import Predictor
from ldseg.inference.results import SamplingOptions
from ldseg.inference.scoring import segment_and_score
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


@torch.no_grad()
def validate(
    model: Segmenter,
    samples: Sequence[dict],
    config: Config,
    ema: nn.Module | None = None,
    batch_size: int = 8,
) -> np.ndarray:
    """Per-class Dice (mean over samples, empty-in-both left out) of preprocessed samples (a
    slice-wise run's slices each a case of its own, at the network's size) with the
    configured sampler, every sample from the noise of the run's seed, as ``ldseg predict``
    draws it. Consecutive samples of one shape share model calls (``consecutive`` batching:
    the samples are read in order, never all at once). With ``ema`` the model samples with it
    in place of its ``ema_target``."""
    if not samples:
        return np.array([])
    device = next(model.parameters()).device
    sampling = SamplingOptions(seed=config.train.seed)
    with using_ema(model, ema):
        predictor = Predictor(model, config, device)
        scored = segment_and_score(
            predictor,
            map(sample_input, samples),
            sampling,
            batching="consecutive",
            batch_size=batch_size,
        )
    return scored.scores.class_dice()
