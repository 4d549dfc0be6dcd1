"""Image files read and preprocessed for prediction, in worker processes."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch.utils.data import DataLoader, Dataset

from ldseg.data.adapter import CaseAdapter, NetworkInput
from ldseg.data.inputs import ImageInput, as_input
from ldseg.data.readers import read_channels
from ldseg.errors import LDSegError


@dataclass
class LoadedImage:
    """An input read and brought to what the network sees (``inputs``), or the error that
    stopped it; ``path`` is its first file, ``stem`` the name of what is written for it."""

    index: int
    path: Path
    stem: str
    inputs: NetworkInput | None = None
    image: np.ndarray | None = None  # the image as read, kept only when asked for
    error: LDSegError | None = None


class ImageFiles(Dataset):
    """Image files (or inputs of several channel files) read and preprocessed for a run
    (its :class:`~ldseg.data.adapter.CaseAdapter`), e.g. in ``DataLoader`` worker processes;
    an input that fails with an :class:`LDSegError` is returned with its error, not raised."""

    def __init__(
        self,
        paths: Sequence[str | Path | ImageInput],
        adapter: CaseAdapter,
        keep_images: bool = False,
    ):
        self.inputs = [as_input(p) for p in paths]
        self.adapter = adapter
        self.keep_images = keep_images

    def __len__(self) -> int:
        return len(self.inputs)

    def __getitem__(self, index: int) -> LoadedImage:
        path, stem = self.inputs[index].path, self.inputs[index].stem
        try:
            image, meta = read_channels(self.inputs[index].files)  # (C, *S)
            inputs = self.adapter.inputs(image, meta["spacing"], path, stem)
        except LDSegError as err:
            return LoadedImage(index, path, stem, error=err)
        return LoadedImage(index, path, stem, inputs, image if self.keep_images else None)


def _as_is(item: LoadedImage) -> LoadedImage:
    """The DataLoader's collate function: items are batched after loading."""
    return item


def read_files(files: ImageFiles, workers: int) -> Iterator[LoadedImage]:
    """The files read by ``workers`` processes (0: this one), in order."""
    loader = DataLoader(
        files, batch_size=None, num_workers=min(workers, len(files)), collate_fn=_as_is
    )
    yield from loader
