"""What prediction segments: image files, each one input, or nnU-Net channel files
``<case>_0000``, ``<case>_0001``, ... grouped into one multi-channel input per case."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ldseg.data.formats import file_stem, is_image_file
from ldseg.errors import DataError

CHANNEL_STEM = re.compile(r"^(.+)_(\d{4})$")  # nnU-Net's <case>_<XXXX>


@dataclass(frozen=True)
class ImageInput:
    """One image to segment: its files (several for nnU-Net channel files, concatenated in
    order) and the stem of what is written for it (nnU-Net: the case, ``case.nii.gz``)."""

    files: tuple[Path, ...]
    stem: str

    @property
    def path(self) -> Path:
        """The first file: the format and geometry of what is written."""
        return self.files[0]


def as_input(item: str | Path | ImageInput) -> ImageInput:
    """An input as it is, or one file as an input of its own stem."""
    if isinstance(item, ImageInput):
        return item
    return ImageInput((Path(item),), file_stem(item))


def group_channels(paths: Sequence[Path], in_channels: int) -> list[ImageInput]:
    """The inputs of a folder's files for a run of ``in_channels`` channels.

    When every image file is named ``<case>_<XXXX>`` with ``XXXX`` below ``in_channels``
    (nnU-Net ``imagesTs``), each case's files ``_0000`` to ``_<in_channels - 1>`` become one
    input named by the case; a missing channel file raises, naming it. Otherwise every file is
    an input of its own (files that are not images too, for the caller to report).
    """
    images = [p for p in paths if is_image_file(p)]
    matches = [CHANNEL_STEM.match(file_stem(p)) for p in images]
    if not images or any(m is None or int(m[2]) >= in_channels for m in matches):
        return [as_input(p) for p in paths]
    cases: dict[str, dict[int, Path]] = defaultdict(dict)
    for path, match in zip(images, matches, strict=True):
        channel = int(match[2])
        if channel in cases[match[1]]:
            other = cases[match[1]][channel].name
            raise DataError(f"{path}: two files for channel {channel}: {other}, {path.name}")
        cases[match[1]][channel] = path
    for case, channels in sorted(cases.items()):
        for channel in range(in_channels):
            if channel not in channels:
                first = next(iter(channels.values()))
                ending = first.name[len(file_stem(first)) :]
                missing = first.with_name(f"{case}_{channel:04d}{ending}")
                raise DataError(
                    f"{missing}: no such file; case {case} needs channel files _0000 to "
                    f"_{in_channels - 1:04d} (the run takes {in_channels} channels)"
                )
    grouped = [
        ImageInput(tuple(channels[c] for c in range(in_channels)), case)
        for case, channels in sorted(cases.items())
    ]
    return grouped + [as_input(p) for p in paths if not is_image_file(p)]
