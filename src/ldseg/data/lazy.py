"""Cases read from disk when they are used, for data larger than memory: the tensors
``load_cases`` gives, one case at a time, and an estimate of what holding them all would take."""

from __future__ import annotations

from collections.abc import Sequence
from typing import overload

import torch

from ldseg.config import DataConfig
from ldseg.data.cases import load_cases, read_cases
from ldseg.data.pairing import Pair
from ldseg.data.transforms import prepare_image


class LazyCases(Sequence[dict]):
    """The samples ``load_cases(pairs, data, in_channels, num_classes)`` would hold in memory,
    each read and preprocessed when it is indexed (also in ``DataLoader`` worker processes)."""

    def __init__(
        self, pairs: Sequence[Pair], data: DataConfig, in_channels: int, num_classes: int
    ) -> None:
        self.pairs, self.data = list(pairs), data
        self.in_channels, self.num_classes = in_channels, num_classes

    def __len__(self) -> int:
        return len(self.pairs)

    @overload
    def __getitem__(self, index: int) -> dict: ...

    @overload
    def __getitem__(self, index: slice) -> list[dict]: ...

    def __getitem__(self, index: int | slice) -> dict | list[dict]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        pair = self.pairs[index]
        return load_cases([pair], self.data, self.in_channels, self.num_classes, progress=False)[0][
            0
        ]


def scan_cases(
    pairs: Sequence[Pair],
    data: DataConfig,
    in_channels: int = 0,
    num_classes: int = 0,
    desc: str = "checking",
    progress: bool = True,
) -> tuple[int, int]:
    """Read and preprocess every pair once, one at a time, with the checks of ``load_cases``;
    returns the channel count and the number of classes ``load_cases`` would resolve."""
    max_label = 0
    for case in read_cases(pairs, data, num_classes, desc, progress):
        in_channels = in_channels or case.image.shape[0]
        max_label = max(max_label, int(case.mask.max()))
        prepare_image(case.image, data, in_channels, case.spacing, case.path)
    return in_channels, num_classes or max(2, max_label + 1)


def memory_estimate(pairs: Sequence[Pair], data: DataConfig, in_channels: int = 0) -> int:
    """Bytes the preprocessed samples of ``pairs`` would take in memory: the first sample's
    bytes for each pair, scaled by the pair's file sizes when images keep their own grid."""
    sample = load_cases(pairs[:1], data, in_channels, progress=False)[0][0]
    first = sum(t.nbytes for t in sample.values() if isinstance(t, torch.Tensor))
    if data.resize:
        return first * len(pairs)

    def file_bytes(pair: Pair) -> int:
        return sum(path.stat().st_size for path in (*pair.images, pair.mask))

    return round(first * sum(map(file_bytes, pairs)) / max(file_bytes(pairs[0]), 1))
