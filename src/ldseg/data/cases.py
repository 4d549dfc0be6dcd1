"""One data path for every command: an image/mask pair read with a run's data settings
(binarize, class mapping), checked, and brought to the grid the network sees."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ldseg.config import DataConfig
from ldseg.data.adapter import CaseAdapter
from ldseg.data.layouts import discover
from ldseg.data.pairing import Pair
from ldseg.data.readers import check_same_grid, read_channels, read_label
from ldseg.data.transforms import relabel
from ldseg.errors import DataError


def read_case(pair: Pair, options: DataConfig | None = None) -> tuple[np.ndarray, np.ndarray, dict]:
    """Image ``(C, *S)``, label map ``(*S)`` after ``binarize`` and ``class_mapping``, and the
    image's meta; the mask must lie on the image's grid (shape and affine)."""
    options = options or DataConfig()
    image, meta = read_channels(pair.images)
    mask, mask_meta = read_label(pair.mask, options.binarize)
    if tuple(image.shape[1:]) != tuple(mask.shape):
        raise DataError(
            f"{pair.mask}: mask shape {tuple(mask.shape)} differs from image shape "
            f"{tuple(image.shape[1:])} of {pair.image.name}"
        )
    check_same_grid(mask_meta, meta, f"image {pair.image.name}")
    return image, relabel(mask, options.class_mapping, pair.mask), meta


def read_truth(path: str | Path, data: DataConfig | None = None) -> tuple[np.ndarray, dict]:
    """A truth mask read as training reads masks (``binarize``, ``class_mapping``) and its meta."""
    data = data or DataConfig()
    mask, meta = read_label(path, data.binarize)
    return relabel(mask, data.class_mapping, path), meta


@dataclass
class Case:
    """An image ``(C, *S)`` and its label map ``(*S)`` on their own grid, as ``read_case`` reads
    them; ``path`` is the image file."""

    stem: str
    image: np.ndarray
    mask: np.ndarray
    spacing: tuple[float, ...]
    path: Path


def read_cases(
    pairs: Sequence[Pair],
    data: DataConfig,
    num_classes: int = 0,
    desc: str = "reading",
    progress: bool = False,
) -> Iterator[Case]:
    """Every pair as a :class:`Case`, one at a time. Every image must have the first one's
    channel count; with ``num_classes`` every label must be below it."""
    if not pairs:
        raise DataError("no image/mask pairs to load")
    first_channels = None
    for pair in tqdm(pairs, desc=desc, leave=False, dynamic_ncols=True, disable=not progress):
        image, mask, meta = read_case(pair, data)
        if first_channels is None:
            first_channels = image.shape[0]
        elif image.shape[0] != first_channels:
            raise DataError(
                f"{pair.image}: has {image.shape[0]} channels, "
                f"{pairs[0].image.name} has {first_channels}"
            )
        if num_classes and mask.max() >= num_classes:
            found = sorted(int(v) for v in np.unique(mask))
            raise DataError(
                f"{pair.mask}: label values {found} outside the declared classes "
                f"0..{num_classes - 1}"
            )
        yield Case(pair.stem, image, mask, tuple(meta["spacing"]), pair.image)


def dataset_cases(
    path: str | Path, data: DataConfig, split: str = "val", max_cases: int | None = None
) -> list[Case]:
    """The first ``max_cases`` (all by default) cases of ``split`` of a dataset (any layout
    ``discover`` knows, ``data.layout``; the whole set when it has no splits)."""
    pairs = discover(path, data.layout).pairs(split)[:max_cases]
    return list(read_cases(pairs, data))


@dataclass
class Counts:
    """The channel count and the number of classes of a training set, resolved as its cases
    are read: 0 takes the first image's channels, and the largest label value + 1."""

    in_channels: int = 0
    num_classes: int = 0
    max_label: int = 0

    def classes(self) -> int:
        return self.num_classes or max(2, self.max_label + 1)


def case_samples(
    pairs: Sequence[Pair], data: DataConfig, counts: Counts, desc: str, progress: bool
) -> Iterator[list[dict[str, torch.Tensor | str]]]:
    """Each pair's samples as :func:`load_cases` makes them, one case at a time, resolving
    ``counts`` on the way."""
    for case in read_cases(pairs, data, counts.num_classes, desc, progress):
        counts.in_channels = counts.in_channels or case.image.shape[0]
        counts.max_label = max(counts.max_label, int(case.mask.max()))
        yield CaseAdapter(data, counts.in_channels).samples(case)


def load_cases(
    pairs: Sequence[Pair],
    data: DataConfig,
    in_channels: int = 0,
    num_classes: int = 0,
    desc: str = "loading",
    progress: bool = True,
) -> tuple[list[dict[str, torch.Tensor | str]], int, int]:
    """Training and validation tensors ``{"image": (C, *S), "mask": (1, *S), "stem"}`` of pairs.

    ``S`` is ``data.size``, or without ``data.resize`` the native grid (resampled to
    ``data.spacing`` if set); a run that slices volumes (``data.slicing``) gets one sample per
    slice (:meth:`~ldseg.data.adapter.CaseAdapter.samples`; stems ``<stem>_z00``, ...), so
    validation during training scores slices, not volumes. ``in_channels`` 0 takes the first
    image's channel count; ``num_classes`` 0 takes the largest label value + 1, otherwise
    labels are checked against it. Returns the tensors, the channel count and the number of
    classes.
    """
    counts = Counts(in_channels, num_classes)
    samples = [s for case in case_samples(pairs, data, counts, desc, progress) for s in case]
    return samples, counts.in_channels, counts.classes()
