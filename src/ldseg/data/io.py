"""Read images and masks (PNG, BMP, JPEG, TIFF, NIfTI), write masks atomically, pair files."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
from monai.data import NibabelReader, PILReader
from monai.transforms import LoadImage
from PIL import Image

from ldseg.errors import DataError
from ldseg.utils import atomic_write

RASTER_SUFFIXES = (".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff")
VOLUME_SUFFIXES = (".nii", ".nii.gz")
IMAGE_DIRS = ("images", "Image")
MASK_DIRS = ("masks", "labels", "Label")
MASK_SUFFIXES = ("_label", "_mask", "_gt", "_anno", "_seg")
_SHOWN = 5  # unmatched files named in an error message


def _unsupported(path: Path) -> DataError:
    expected = ", ".join(RASTER_SUFFIXES + VOLUME_SUFFIXES)
    return DataError(f"{path}: unsupported file type (expected {expected})")


@dataclass(frozen=True)
class Pair:
    """An image file, its mask file and their shared stem."""

    image: Path
    mask: Path
    stem: str


def file_stem(path: str | Path) -> str:
    """File name without its suffix; ``.nii.gz`` counts as one suffix."""
    name = Path(path).name
    return name[: -len(".nii.gz")] if name.lower().endswith(".nii.gz") else Path(name).stem


def is_volume(path: str | Path) -> bool:
    """Whether the file is NIfTI (``.nii`` or ``.nii.gz``)."""
    return Path(path).name.lower().endswith(VOLUME_SUFFIXES)


def is_image_file(path: str | Path) -> bool:
    """Whether the suffix is a supported raster or volume format."""
    return Path(path).name.lower().endswith(RASTER_SUFFIXES + VOLUME_SUFFIXES)


def _one_line(err: Exception) -> str:
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text[:200]}" if text else type(err).__name__


def _image_mode(img: Image.Image) -> Image.Image:
    """PIL converter for images: drop alpha, expand palettes and other colour spaces to RGB."""
    if img.mode in ("LA", "La"):
        return img.convert("L")
    if img.mode in ("1", "L", "I", "F", "RGB") or img.mode.startswith("I;"):
        return img
    return img.convert("RGB")


def _load(path: str | Path, dtype: type, converter: Callable | None) -> tuple[np.ndarray, dict]:
    """Channel-first array and meta through MONAI's ``LoadImage``; any failure is a DataError."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    if is_volume(path):
        reader, kind = NibabelReader(), "volume"
    elif path.name.lower().endswith(RASTER_SUFFIXES):
        # reverse_indexing=False keeps PIL's row-major (H, W) layout instead of MONAI's (W, H)
        reader, kind = PILReader(converter=converter, reverse_indexing=False), "raster"
    else:
        raise _unsupported(path)
    loader = LoadImage(reader=reader, image_only=False, ensure_channel_first=True, dtype=dtype)
    try:
        data, meta = loader(path, reader=reader)  # a runtime reader's errors propagate as they are
        array = data.numpy()
    except Exception as err:
        raise DataError(f"{path}: cannot read ({_one_line(err)})") from err
    if array.size == 0:
        raise DataError(f"{path}: empty image (no pixels)")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise DataError(f"{path}: contains NaN or infinite values")
    affine = np.asarray(meta["affine"], dtype=np.float64) if kind == "volume" else np.eye(4)
    info = {
        "path": path,
        "kind": kind,
        "spatial_shape": tuple(array.shape[1:]),
        "affine": affine,
        "spacing": tuple(np.linalg.norm(affine[:3, : min(array.ndim - 1, 3)], axis=0).tolist()),
    }
    return array, info


def read_image(path: str | Path) -> tuple[np.ndarray, dict]:
    """Image as float32 ``(C, *spatial)`` and its meta (path, kind, spatial_shape, affine, spacing).

    Raster images are ``(C, H, W)`` as PIL/numpy give them (grey C=1, colour C=3, alpha dropped);
    NIfTI volumes are ``(C, X, Y, Z)`` as nibabel gives them.
    """
    return _load(path, np.float32, _image_mode)


def _as_labels(array: np.ndarray, where: str | Path) -> np.ndarray:
    """Validate class indices (finite, integral, non-negative) and return them as int64."""
    if array.dtype.kind == "f" and not np.array_equal(array, np.round(array)):
        raise DataError(f"{where}: mask has non-integer values")
    if array.dtype.kind not in "biuf":
        raise DataError(f"{where}: mask has unsupported data type {array.dtype}")
    if array.size and array.min() < 0:
        raise DataError(f"{where}: mask has negative values")
    return array.astype(np.int64)


def read_mask(path: str | Path) -> np.ndarray:
    """Mask as an int64 label map of the image's spatial shape (no channel axis).

    RGB(A) masks whose colour channels are identical are accepted; alpha is ignored.
    """
    array, meta = _load(path, np.float64, None)
    if meta["kind"] == "raster" and array.shape[0] in (2, 4):
        array = array[:-1]
    if not (array == array[:1]).all():
        raise DataError(f"{path}: mask has {array.shape[0]} differing channels, expected one")
    return _as_labels(array[0], path)


def write_mask(mask: np.ndarray, reference: str | Path, out_path: str | Path) -> Path:
    """Write class indices with the reference image's format and geometry; returns the path.

    Raster reference: PNG (uint8, or uint16 above 255) of the ``(H, W)`` mask.
    NIfTI reference: ``.nii.gz`` with the reference's affine and header, dtype uint8 (or uint16).
    """
    reference, out_path = Path(reference), Path(out_path)
    labels = _as_labels(np.asarray(mask), out_path)
    if labels.size and labels.max() > np.iinfo(np.uint16).max:
        raise DataError(f"{out_path}: mask values above 65535 cannot be written")
    dtype = np.uint8 if not labels.size or labels.max() <= 255 else np.uint16
    try:
        if is_volume(reference):
            ref = nib.load(reference)
            expected = tuple(ref.shape[:3])
        else:
            with Image.open(reference) as ref_image:
                expected = (ref_image.height, ref_image.width)
    except Exception as err:
        raise DataError(f"{reference}: cannot read reference ({_one_line(err)})") from err
    if labels.shape != expected:
        raise DataError(f"{out_path}: mask shape {labels.shape} != reference shape {expected}")

    if is_volume(reference):
        header = ref.header.copy()
        header.set_data_dtype(dtype)
        header.set_slope_inter(1, 0)
        image = type(ref)(labels.astype(dtype), ref.affine, header)
        out_path = out_path.with_name(f"{file_stem(out_path)}.nii.gz")
        return atomic_write(out_path, image.to_filename)
    out_path = out_path.with_name(f"{file_stem(out_path)}.png")
    return atomic_write(out_path, lambda tmp: Image.fromarray(labels.astype(dtype)).save(tmp))


def _folder_files(folder: Path, strict: bool) -> list[Path]:
    """Sorted non-hidden image files of a folder; other files raise (strict) or are skipped."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    if strict:
        for p in files:
            if not is_image_file(p):
                raise _unsupported(p)
    files = [p for p in files if is_image_file(p)]
    if not files:
        raise DataError(f"{folder}: no image files")
    return files


def _subfolder(folder: Path, names: Sequence[str]) -> Path | None:
    return next((folder / n for n in names if (folder / n).is_dir()), None)


def _named(paths: Sequence[Path]) -> str:
    shown = ", ".join(p.name for p in paths[:_SHOWN])
    return shown + (f", ... ({len(paths)} in all)" if len(paths) > _SHOWN else "")


def pair_files(
    images: Sequence[Path],
    masks: Sequence[Path],
    where: str | Path,
    kinds: tuple[str, str] = ("image", "mask"),
) -> list[Pair]:
    """Pair files by stem (a mask may add a suffix such as ``_label``), sorted by stem.

    ``kinds`` names the two sides in error messages, e.g. ``("image", "mask")``.
    """
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
    problems = [
        f"no {other} for {len(lonely)} {kind}(s): {_named(lonely)}"
        for lonely, kind, other in [(lonely_images, *kinds), (lonely_masks, *kinds[::-1])]
        if lonely
    ]
    if problems:
        raise DataError(f"{where}: {'; '.join(problems)}")
    return [Pair(by_stem[s], matched[s], s) for s in sorted(matched)]


def find_pairs(folder: str | Path) -> list[Pair]:
    """Image/mask pairs of a dataset folder holding ``images``/``Image`` and ``masks``/``labels``/
    ``Label`` subfolders, matched by stem (mask suffixes ``_label``, ``_mask``, ... allowed)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder")
    image_dir = _subfolder(folder, IMAGE_DIRS)
    if image_dir is None:
        raise DataError(f"{folder}: no image folder (expected one of {', '.join(IMAGE_DIRS)})")
    mask_dir = _subfolder(folder, MASK_DIRS)
    if mask_dir is None:
        raise DataError(f"{folder}: no mask folder (expected one of {', '.join(MASK_DIRS)})")
    images, masks = _folder_files(image_dir, True), _folder_files(mask_dir, True)
    return pair_files(images, masks, folder)


def list_images(path: str | Path) -> list[Path]:
    """A single image file, or the sorted image files of a folder or of its ``images`` subfolder."""
    path = Path(path)
    if path.is_file():
        if not is_image_file(path):
            raise _unsupported(path)
        return [path]
    if not path.is_dir():
        raise DataError(f"{path}: no such file or folder")
    return _folder_files(_subfolder(path, IMAGE_DIRS) or path, True)


def list_masks(path: str | Path) -> list[Path]:
    """Sorted mask files of a folder (its ``masks``/``labels``/``Label`` subfolder if any).

    Files that are not images (e.g. a JSON report) are skipped.
    """
    path = Path(path)
    if not path.is_dir():
        raise DataError(f"{path}: no such folder")
    return _folder_files(_subfolder(path, MASK_DIRS) or path, False)
