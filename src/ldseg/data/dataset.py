"""Loading image/mask pairs into preprocessed tensors for training and validation."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from tqdm import tqdm

from ldseg.data.io import Pair, read_image, read_mask
from ldseg.data.transforms import preprocess_image, resize_mask
from ldseg.errors import DataError

Case = dict[str, torch.Tensor | str]


def load_cases(
    pairs: Sequence[Pair],
    size: Sequence[int],
    intensity: str,
    in_channels: int = 0,
    num_classes: int = 0,
    desc: str = "loading",
) -> tuple[list[Case], int, int]:
    """Read, check and preprocess pairs to ``{"image": (C, *size), "mask": (1, *size), "stem"}``.

    ``in_channels`` 0 takes the first image's channel count (every image must then have it);
    ``num_classes`` 0 takes the largest label value + 1, otherwise labels are checked against it.
    Returns the cases, the channel count and the number of classes.
    """
    if not pairs:
        raise DataError("no image/mask pairs to load")
    cases: list[Case] = []
    max_label = 0
    first_channels = None
    for pair in tqdm(pairs, desc=desc, leave=False, dynamic_ncols=True):
        image, _ = read_image(pair.image)
        mask = read_mask(pair.mask)
        if first_channels is None:
            first_channels = image.shape[0]
            in_channels = in_channels or first_channels
        elif image.shape[0] != first_channels:
            raise DataError(
                f"{pair.image}: has {image.shape[0]} channels, "
                f"{pairs[0].image.name} has {first_channels}"
            )
        if tuple(image.shape[1:]) != tuple(mask.shape):
            raise DataError(
                f"{pair.mask}: mask shape {tuple(mask.shape)} differs from image shape "
                f"{tuple(image.shape[1:])} of {pair.image.name}"
            )
        if mask.min() < 0 or (num_classes and mask.max() >= num_classes):
            found = sorted(int(v) for v in np.unique(mask))
            raise DataError(
                f"{pair.mask}: label values {found} outside the declared classes "
                f"0..{num_classes - 1}"
            )
        max_label = max(max_label, int(mask.max()))
        cases.append(
            {
                "image": preprocess_image(image, in_channels, intensity, size, pair.image),
                "mask": resize_mask(torch.as_tensor(mask)[None], size),
                "stem": pair.stem,
            }
        )
    return cases, in_channels, num_classes or max(2, max_label + 1)
