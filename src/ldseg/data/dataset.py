"""Loading image/mask pairs into preprocessed tensors for training and validation."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from tqdm import tqdm

from ldseg.config import DataConfig
from ldseg.data.geometry import target_shape
from ldseg.data.io import Pair, check_same_grid, read_channels, read_label
from ldseg.data.transforms import preprocess_image, relabel, resize_mask
from ldseg.errors import DataError

Case = dict[str, torch.Tensor | str]


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


def load_cases(
    pairs: Sequence[Pair],
    size: Sequence[int],
    intensity: str,
    in_channels: int = 0,
    num_classes: int = 0,
    desc: str = "loading",
    progress: bool = True,
    options: DataConfig | None = None,
) -> tuple[list[Case], int, int]:
    """Read, check and preprocess pairs to ``{"image": (C, *S), "mask": (1, *S), "stem"}``.

    ``S`` is ``size``, or without ``options.resize`` the native grid (resampled to
    ``options.spacing`` if set); ``options`` also gives ``binarize`` and ``class_mapping``.
    ``in_channels`` 0 takes the first image's channel count (every image must then have it);
    ``num_classes`` 0 takes the largest label value + 1, otherwise labels are checked against it.
    Returns the cases, the channel count and the number of classes.
    """
    if not pairs:
        raise DataError("no image/mask pairs to load")
    options = options or DataConfig(size=list(size))
    cases: list[Case] = []
    max_label = 0
    first_channels = None
    for pair in tqdm(pairs, desc=desc, leave=False, dynamic_ncols=True, disable=not progress):
        image, mask, meta = read_case(pair, options)
        if first_channels is None:
            first_channels = image.shape[0]
            in_channels = in_channels or first_channels
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
        max_label = max(max_label, int(mask.max()))
        shape = (
            tuple(size) if options.resize else target_shape(mask.shape, meta["spacing"], options)
        )
        cases.append(
            {
                "image": preprocess_image(image, in_channels, intensity, shape, pair.image),
                "mask": resize_mask(torch.as_tensor(mask)[None], shape),
                "stem": pair.stem,
            }
        )
    return cases, in_channels, num_classes or max(2, max_label + 1)
