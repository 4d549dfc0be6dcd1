"""The training and validation samples of a run: held in memory, or read from disk when used
for data that would not fit comfortably (``data.cache``)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from ldseg.config import Config
from ldseg.data.adapter import CaseAdapter
from ldseg.data.cases import load_cases
from ldseg.data.lazy import LazyCases, memory_estimate, scan_cases
from ldseg.data.pairing import Pair
from ldseg.errors import LDSegError
from ldseg.utils import available_memory

# The preprocessed {"image", "mask", "stem"} of ``ldseg.data.cases.load_cases``.
Samples = Sequence[dict]
MEMORY_SHARE = 0.25  # data.cache auto: in memory when the samples take at most this share


def cache_mode(cfg: Config, pairs: Sequence[Pair], show: bool) -> str:
    """``data.cache``, with ``auto`` resolved: ``memory`` when the preprocessed samples of
    ``pairs`` are estimated to take at most ``MEMORY_SHARE`` of the available memory, else
    ``lazy``; ``memory`` where the run's samples cannot be read lazily
    (:attr:`~ldseg.data.adapter.CaseAdapter.memory_only`)."""
    reason = CaseAdapter(cfg.data, cfg.model.in_channels).memory_only
    if reason is not None:
        if cfg.data.cache == "lazy":
            raise LDSegError(reason)
        return "memory"
    if cfg.data.cache != "auto":
        return cfg.data.cache
    need, free = memory_estimate(pairs, cfg.data, cfg.model.in_channels), available_memory()
    if need <= MEMORY_SHARE * free:
        return "memory"
    if show:
        print(
            f"ldseg: the training data would take about {need / 2**20:,.0f} MiB of the "
            f"{free / 2**20:,.0f} MiB available: reading cases from disk when used (data.cache)",
            file=sys.stderr,
        )
    return "lazy"


def load_samples(
    cfg: Config, train_pairs: Sequence[Pair], val_pairs: Sequence[Pair] | None, show: bool
) -> tuple[Samples, Samples]:
    """Load the training and validation samples (in memory or as :class:`LazyCases`, which
    give the same tensors); resolves the config's channels and classes."""
    model, data = cfg.model, cfg.data
    all_pairs = [*train_pairs, *(val_pairs or ())]
    if cache_mode(cfg, all_pairs, show) == "lazy":
        channels, classes = model.in_channels, model.num_classes
        model.in_channels, model.num_classes = scan_cases(
            train_pairs, data, channels, classes, "checking training data", show
        )
        cfg.validate("config")
        resolved = (model.in_channels, model.num_classes)
        if val_pairs:
            scan_cases(val_pairs, data, *resolved, "checking validation data", show)
        return LazyCases(train_pairs, data, *resolved), LazyCases(val_pairs or [], data, *resolved)
    train, in_channels, num_classes = load_cases(
        train_pairs, data, model.in_channels, model.num_classes, "loading training data", show
    )
    model.in_channels, model.num_classes = in_channels, num_classes
    cfg.validate("config")
    if not val_pairs:
        return train, []
    val = load_cases(val_pairs, data, in_channels, num_classes, "loading validation data", show)
    return train, val[0]
