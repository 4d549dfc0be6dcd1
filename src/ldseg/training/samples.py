"""The training and validation samples of a run, loaded once into memory."""

from __future__ import annotations

from collections.abc import Sequence

from ldseg.config import Config
from ldseg.data.cases import load_cases
from ldseg.data.pairing import Pair

Samples = list[dict]  # preprocessed {"image", "mask", "stem"} of ``ldseg.data.cases.load_cases``


def load_samples(
    cfg: Config, train_pairs: Sequence[Pair], val_pairs: Sequence[Pair] | None, show: bool
) -> tuple[Samples, Samples]:
    """Load the training and validation samples; resolves the config's channels and classes."""
    model, data = cfg.model, cfg.data
    train, in_channels, num_classes = load_cases(
        train_pairs, data, model.in_channels, model.num_classes, "loading training data", show
    )
    model.in_channels, model.num_classes = in_channels, num_classes
    cfg.validate("config")
    if not val_pairs:
        return train, []
    val = load_cases(val_pairs, data, in_channels, num_classes, "loading validation data", show)
    return train, val[0]
