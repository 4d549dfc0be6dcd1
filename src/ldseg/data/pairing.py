"""Pair image files with mask files by stem, and list the image files of a folder."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ldseg.data.formats import (
    COMPANION_SUFFIXES,
    IMAGE_DIRS,
    MASK_DIRS,
    MASK_SUFFIXES,
    file_stem,
    is_image_file,
    unsupported_error,
)
from ldseg.errors import DataError

_SHOWN = 5  # unmatched files named in an error message


@dataclass(frozen=True)
class Pair:
    """An image file, its mask file, their shared stem and further channel files of the image
    (nnU-Net ``case_0001``, ``case_0002``, ...)."""

    image: Path
    mask: Path
    stem: str
    channels: tuple[Path, ...] = ()

    @property
    def images(self) -> tuple[Path, ...]:
        return (self.image, *self.channels)


def _visible_files(folder: Path) -> list[Path]:
    """Sorted non-hidden files of a folder, less the pixel data files of .mhd/.nhdr headers."""
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file()
        and not p.name.startswith(".")
        and not p.name.lower().endswith(COMPANION_SUFFIXES)
    )


def other_files(folder: Path) -> list[Path]:
    """Sorted non-hidden files of a folder that are not images (e.g. ``notes.txt``)."""
    return [p for p in _visible_files(folder) if not is_image_file(p)]


def folder_files(folder: Path, strict: bool) -> list[Path]:
    """Sorted non-hidden image files of a folder; other files raise (strict) or are skipped.
    A folder without image files raises."""
    files = _visible_files(folder)
    if strict:
        for p in files:
            if not is_image_file(p):
                raise unsupported_error(p)
    files = [p for p in files if is_image_file(p)]
    if not files:
        raise DataError(f"{folder}: no image files")
    return files


def subfolder(folder: Path, names: Sequence[str]) -> Path | None:
    return next((folder / n for n in names if (folder / n).is_dir()), None)


def _named(paths: Sequence[Path]) -> str:
    shown = ", ".join(p.name for p in paths[:_SHOWN])
    return shown + (f", ... ({len(paths)} in all)" if len(paths) > _SHOWN else "")


def match_files(
    images: Sequence[Path],
    masks: Sequence[Path],
    where: str | Path,
    kinds: tuple[str, str] = ("image", "mask"),
) -> tuple[list[Pair], list[Path], list[Path]]:
    """Pair files by stem (a mask may add a suffix such as ``_label``), sorted by stem; also
    returns the images and the masks left without a partner. Duplicates raise."""
    by_stem: dict[str, Path] = {}
    for image in images:
        if file_stem(image) in by_stem:
            other = by_stem[file_stem(image)].name
            raise DataError(f"{where}: two {kinds[0]}s with one stem: {other}, {image.name}")
        by_stem[file_stem(image)] = image
    matched: dict[str, Path] = {}
    lonely_masks = []
    for mask in masks:
        stem = file_stem(mask)
        if stem not in by_stem:
            stem = next((stem[: -len(s)] for s in MASK_SUFFIXES if stem.lower().endswith(s)), stem)
        if stem not in by_stem:
            lonely_masks.append(mask)
        elif stem in matched:
            both = f"{matched[stem].name}, {mask.name}"
            raise DataError(f"{where}: two {kinds[1]}s for {by_stem[stem].name}: {both}")
        else:
            matched[stem] = mask
    lonely_images = [p for s, p in by_stem.items() if s not in matched]
    return [Pair(by_stem[s], matched[s], s) for s in sorted(matched)], lonely_images, lonely_masks


def unmatched_error(
    where: str | Path, lonely_images: Sequence[Path], lonely_masks: Sequence[Path], kinds=None
) -> DataError:
    """One error naming the unpaired files."""
    kinds = kinds or ("image", "mask")
    problems = [
        f"no {other} for {len(lonely)} {kind}(s): {_named(lonely)}"
        for lonely, kind, other in [(lonely_images, *kinds), (lonely_masks, *kinds[::-1])]
        if lonely
    ]
    return DataError(f"{where}: {'; '.join(problems)}")


def pair_files(
    images: Sequence[Path],
    masks: Sequence[Path],
    where: str | Path,
    kinds: tuple[str, str] = ("image", "mask"),
) -> list[Pair]:
    """Pair files by stem as :func:`match_files` does; any unpaired file raises.

    ``kinds`` names the two sides in error messages, e.g. ``("image", "mask")``.
    """
    pairs, lonely_images, lonely_masks = match_files(images, masks, where, kinds)
    if lonely_images or lonely_masks:
        raise unmatched_error(where, lonely_images, lonely_masks, kinds)
    return pairs


def list_images(path: str | Path, strict: bool = True) -> list[Path]:
    """A single image file, or the sorted image files of a folder or of its ``images`` subfolder.

    A folder's other files raise, or without ``strict`` are listed too, for the caller to report
    and skip (``ldseg predict``); a folder without image files raises either way.
    """
    path = Path(path)
    if path.is_file():
        if not is_image_file(path):
            raise unsupported_error(path)
        return [path]
    if not path.is_dir():
        raise DataError(f"{path}: no such file or folder")
    folder = subfolder(path, IMAGE_DIRS) or path
    images = folder_files(folder, strict)
    return images if strict else sorted(images + other_files(folder))


def list_masks(path: str | Path) -> list[Path]:
    """Sorted mask files of a folder (its ``masks``/``labels``/``Label`` subfolder if any).

    Files that are not images (e.g. a JSON report) are skipped.
    """
    path = Path(path)
    if not path.is_dir():
        raise DataError(f"{path}: no such folder")
    return folder_files(subfolder(path, MASK_DIRS) or path, False)
