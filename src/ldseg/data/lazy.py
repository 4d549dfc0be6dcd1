"""Cases read from disk when they are used, for data larger than memory: the tensors
``load_cases`` gives, one case at a time, and an estimate of what holding them all would take."""

from __future__ import annotations

from collections.abc import Sequence
from typing import overload

import torch

from ldseg.config import DataConfig
from ldseg.data.cases import Counts, case_samples, load_cases
from ldseg.data.pairing import Pair


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
    counts = Counts(in_channels, num_classes)
    for _ in case_samples(pairs, data, counts, desc, progress):
        pass
    return counts.in_channels, counts.classes()


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
