"""Image files read and preprocessed for prediction, in worker processes, grouped by size."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ldseg.config import Config
from ldseg.data.inputs import ImageInput, as_input
from ldseg.data.readers import read_channels
from ldseg.data.slices import volume_slices
from ldseg.data.transforms import prepare_image
from ldseg.errors import DataError, LDSegError


def preprocess(
    config: Config,
    image: np.ndarray,
    source: str | Path = "array",
    spacing: Sequence[float] | None = None,
) -> torch.Tensor:
    """An image ``(C, *S)`` or ``(*S)`` of voxel ``spacing``, brought to what the run's network
    sees (``ldseg.data.transforms.prepare_image``, as in training)."""
    dims = config.spatial_dims
    image = np.asarray(image, dtype=np.float32)
    if image.ndim == dims:
        image = image[None]
    if image.ndim != dims + 1:
        raise DataError(
            f"{source}: expected a {dims}D image with a channel axis, got shape {image.shape}"
        )
    return prepare_image(image, config.data, config.model.in_channels, spacing, source)


def preprocess_slices(
    config: Config,
    image: np.ndarray,
    source: str | Path = "array",
    spacing: Sequence[float] | None = None,
) -> tuple[torch.Tensor, int]:
    """A volume ``(C, X, Y, Z)`` or ``(X, Y, Z)`` as a slice-wise run's network sees it: its
    slices ``(N, C, *size)`` and their axis (``ldseg.data.slices.volume_slices``, as in
    training)."""
    image = np.asarray(image, dtype=np.float32)
    image = image[None] if image.ndim == 3 else image
    return volume_slices(image, config.data, config.model.in_channels, spacing, source)


@dataclass
class LoadedImage:
    """An input read and preprocessed (``tensor``), or the error that stopped it; ``path`` is
    its first file, ``stem`` the name of what is written for it."""

    index: int
    path: Path
    stem: str
    tensor: torch.Tensor | None = None
    shape: tuple[int, ...] = ()  # the input's spatial shape, to resize the prediction back
    image: np.ndarray | None = None  # the image as read, kept only when asked for
    axis: int | None = None  # a slice-wise run's slice axis; ``tensor`` holds the slices
    error: LDSegError | None = None


class ImageFiles(Dataset):
    """Image files (or inputs of several channel files) read and preprocessed for a run, e.g.
    in ``DataLoader`` worker processes; an input that fails with an :class:`LDSegError` is
    returned with its error, not raised."""

    def __init__(
        self,
        paths: Sequence[str | Path | ImageInput],
        config: Config,
        keep_images: bool = False,
    ):
        self.inputs = [as_input(p) for p in paths]
        self.config = config
        self.keep_images = keep_images

    def __len__(self) -> int:
        return len(self.inputs)

    def __getitem__(self, index: int) -> LoadedImage:
        path, stem = self.inputs[index].path, self.inputs[index].stem
        try:
            image, meta = read_channels(self.inputs[index].files)  # (C, *S)
            config, axis = self.config, None
            if config.data.slicing == "2d":
                args = (config.data, config.model.in_channels, meta["spacing"], path)
                tensor, axis = volume_slices(image, *args)
            else:
                tensor = preprocess(config, image, path, meta["spacing"])
        except LDSegError as err:
            return LoadedImage(index, path, stem, error=err)
        kept = image if self.keep_images else None
        return LoadedImage(index, path, stem, tensor, tuple(image.shape[1:]), kept, axis)


def _as_is(item: LoadedImage) -> LoadedImage:
    """The DataLoader's collate function: items are grouped into batches after loading."""
    return item


def same_size_batches(
    files: ImageFiles,
    batch_size: int,
    workers: int,
    failed: Callable[[int, LDSegError], None],
) -> Iterator[list[LoadedImage]]:
    """The files read by ``workers`` processes (0: this one), in groups of up to ``batch_size``
    of one preprocessed size; a file that cannot be read goes to ``failed(index, error)``."""
    loader = DataLoader(
        files, batch_size=None, num_workers=min(workers, len(files)), collate_fn=_as_is
    )
    groups: dict[tuple[int, ...], list[LoadedImage]] = {}
    for item in loader:
        if item.error is not None:
            failed(item.index, item.error)
            continue
        size = tuple(item.tensor.shape)
        groups.setdefault(size, []).append(item)
        if len(groups[size]) == batch_size:
            yield groups.pop(size)
    yield from groups.values()
