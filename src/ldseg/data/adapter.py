"""How a run's network sees a case: the one place that knows whether a run segments whole
images or, as nnU-Net's 2D configuration on 3D data, volumes slice by slice (``data.slicing``).

A case (an image or volume ``(C, *S)`` with its label map and spacing) becomes a
:class:`NetworkInput`: the rows the network takes, ``(N, C, *size)`` (the whole image, N = 1,
or a volume's slices along :func:`~ldseg.data.slices.slice_axis`), with the geometry that
brings their predictions back onto the case's grid. Training samples, prediction and scoring
all go through :class:`CaseAdapter`, so nothing else asks how a run slices its cases.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from ldseg.config import DataConfig
from ldseg.data.slices import (
    mask_slices,
    slice_stems,
    stack_slices,
    volume_slices,
    volume_stem,
)
from ldseg.data.transforms import prepare_image, resize_mask
from ldseg.errors import DataError

if TYPE_CHECKING:
    from ldseg.data.cases import Case


@dataclass
class NetworkInput:
    """A case as its network takes it.

    ``images`` ``(N, C, *size)`` holds one row per network input: the whole image, or a
    volume's slices along ``axis`` (None for a whole image). ``shape`` is the case's spatial
    shape, which predictions are brought back to; ``mask`` its label map on that grid, where
    it is known (scoring).
    """

    stem: str
    images: torch.Tensor
    shape: tuple[int, ...]
    axis: int | None = None
    mask: np.ndarray | None = None

    def output_shapes(self) -> list[tuple[int, ...]]:
        """The shape each row's prediction is resized to: the case's, or a slice's plane."""
        if self.axis is None:
            return [self.shape] * len(self.images)
        plane = tuple(n for a, n in enumerate(self.shape) if a != self.axis)
        return [plane] * len(self.images)

    def assemble(self, rows: Sequence[np.ndarray], channel_first: bool = False) -> np.ndarray:
        """The rows' predictions (each ``(*plane)``, or ``(K, *plane)`` with ``channel_first``)
        as one prediction on the case's grid."""
        if self.axis is None:
            (row,) = rows
            return row
        return stack_slices(rows, self.axis, channel_first)


def sample_input(sample: dict) -> NetworkInput:
    """A preprocessed training sample ``{"image": (C, *size), "mask": (1, *size), "stem"}`` as
    a case of its own, scored at the network's size."""
    image = sample["image"]
    mask = sample["mask"][0].numpy()
    return NetworkInput(str(sample["stem"]), image[None], tuple(image.shape[1:]), None, mask)


class CaseAdapter:
    """Cases as a run's network sees them (its ``data`` settings and ``in_channels``): network
    inputs for prediction and scoring, and the samples training holds."""

    def __init__(self, data: DataConfig, in_channels: int) -> None:
        self.data, self.in_channels = data, in_channels
        self._slices = data.slicing == "2d"

    @property
    def case_dims(self) -> int:
        """The spatial dimensions of a case: 3 for a run that slices volumes, else the
        network's."""
        return 3 if self._slices else len(self.data.size)

    @property
    def trajectory_refusal(self) -> str | None:
        """Why the run records no reverse-process trajectory (None: it does): the slices of a
        volume are sampled separately, so no one trajectory belongs to the volume."""
        return "a slice-wise run (data.slicing 2d) records no trajectory" if self._slices else None

    @property
    def memory_only(self) -> str | None:
        """Why the run's training samples must be held in memory (None: they may be read
        lazily): ``LazyCases`` reads one sample per case, a volume gives one per slice."""
        if self._slices:
            return "data.cache lazy reads whole cases; data.slicing 2d needs memory"
        return None

    def array_inputs(
        self,
        image: np.ndarray,
        spacing: Sequence[float] | None = None,
        source: Path | str = "array",
        stem: str = "",
    ) -> NetworkInput:
        """:meth:`inputs` of any array ``(C, *S)`` or, for one channel, ``(*S)`` (made float32)."""
        image = np.asarray(image, dtype=np.float32)
        if image.ndim == self.case_dims:
            image = image[None]
        return self.inputs(image, spacing, source, stem)

    def inputs(
        self,
        image: np.ndarray,
        spacing: Sequence[float] | None = None,
        source: Path | str = "array",
        stem: str = "",
        mask: np.ndarray | None = None,
    ) -> NetworkInput:
        """An image ``(C, *S)`` of voxel ``spacing`` as the network sees it in prediction; an
        image of other dimensions is refused in one line naming ``source``."""
        if not self._slices and image.ndim != self.case_dims + 1:
            raise DataError(
                f"{source}: expected a {self.case_dims}D image with a channel axis, got shape "
                f"{image.shape}"
            )
        return self._inputs(image, spacing, source, stem, mask)

    def case_inputs(self, case: Case) -> NetworkInput:
        """A read case's network input, with its label map for scoring."""
        return self.inputs(case.image, case.spacing, case.path, case.stem, case.mask)

    def samples(self, case: Case, skip_empty_slices: bool = False) -> list[dict]:
        """A case's training samples ``{"image": (C, *size), "mask": (1, *size), "stem"}``:
        the whole image, or one per slice (stems ``<stem>_z00``, ...; with
        ``skip_empty_slices`` only the slices that hold foreground)."""
        inputs = self._inputs(case.image, case.spacing, case.path, case.stem)
        if self._slices:
            masks = mask_slices(case.mask, inputs.axis, inputs.images.shape[2:])
            stems = slice_stems(case.stem, inputs.axis, len(inputs.images))
        else:
            masks = resize_mask(torch.as_tensor(case.mask)[None], inputs.images.shape[2:])[None]
            stems = [case.stem]
        return [
            {"image": image.clone(), "mask": mask, "stem": stem}
            for image, mask, stem in zip(inputs.images, masks, stems, strict=True)
            if not (skip_empty_slices and self._slices and not mask.any())
        ]

    def sample_cases(self, samples: Iterable[dict]) -> Iterator[NetworkInput]:
        """The cases of training samples at the network's size: each sample, or the
        consecutive slices of one volume stacked along a last axis."""
        if not self._slices:
            yield from map(sample_input, samples)
            return
        volume: list[dict] = []
        for sample in samples:
            if volume and volume_stem(str(sample["stem"])) != volume_stem(str(volume[0]["stem"])):
                yield _stacked(volume)
                volume = []
            volume.append(sample)
        if volume:
            yield _stacked(volume)

    def _inputs(
        self,
        image: np.ndarray,
        spacing: Sequence[float] | None,
        source: Path | str,
        stem: str,
        mask: np.ndarray | None = None,
    ) -> NetworkInput:
        shape = tuple(image.shape[1:])
        if self._slices:
            images, axis = volume_slices(image, self.data, self.in_channels, spacing, source)
            return NetworkInput(stem, images, shape, axis, mask)
        tensor = prepare_image(image, self.data, self.in_channels, spacing, source)
        return NetworkInput(stem, tensor[None], shape, None, mask)


def _stacked(slices: Sequence[dict]) -> NetworkInput:
    """Slice samples of one volume as its network input, the slices stacked along a last
    axis (the samples do not record the axis they were cut along)."""
    images = torch.stack([s["image"] for s in slices])
    masks = np.stack([s["mask"][0].numpy() for s in slices], axis=-1)
    axis = masks.ndim - 1
    return NetworkInput(volume_stem(str(slices[0]["stem"])), images, masks.shape, axis, masks)
