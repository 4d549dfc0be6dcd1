"""Read images and masks (PNG, BMP, JPEG, TIFF, NIfTI, MHA/MHD, NRRD) through MONAI's
``LoadImage``, with their geometry; every failure is a one-line ``DataError`` naming the file."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path

import numpy as np
from monai.data import ImageReader, NibabelReader, PILReader
from monai.transforms import LoadImage
from PIL import Image

from ldseg.data.formats import (
    RASTER_SUFFIXES,
    SimpleITKReader,
    is_image_file,
    is_itk,
    is_volume,
    unsupported_error,
)
from ldseg.errors import DataError


def one_line(err: Exception) -> str:
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text[:200]}" if text else type(err).__name__


def _image_mode(img: Image.Image) -> Image.Image:
    """PIL converter for images: drop alpha, expand palettes and other colour spaces to RGB."""
    if img.mode in ("LA", "La"):
        return img.convert("L")
    if img.mode in ("1", "L", "I", "F", "RGB") or img.mode.startswith("I;"):
        return img
    return img.convert("RGB")


@cache
def _loader(
    reader_type: type[ImageReader], dtype: type, converter: Callable | None
) -> tuple[LoadImage, ImageReader]:
    """MONAI's ``LoadImage`` and its reader, built once: building a LoadImage (it looks for
    every optional reader package) takes longer than reading a small PNG."""
    if reader_type is PILReader:
        # reverse_indexing=False keeps PIL's row-major (H, W) layout instead of MONAI's (W, H)
        reader = PILReader(converter=converter, reverse_indexing=False)
    else:
        reader = reader_type()
    loader = LoadImage(reader=reader, image_only=False, ensure_channel_first=True, dtype=dtype)
    return loader, reader


def _load(path: str | Path, dtype: type, converter: Callable | None) -> tuple[np.ndarray, dict]:
    """Channel-first array and meta through MONAI's ``LoadImage``; any failure is a DataError."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    if is_image_file(path) and path.stat().st_size == 0:
        raise DataError(f"{path}: empty file (0 bytes)")
    if is_volume(path):
        reader_type, kind = NibabelReader, "volume"
    elif is_itk(path):
        reader_type, kind = SimpleITKReader, "volume"
    elif path.name.lower().endswith(RASTER_SUFFIXES):
        reader_type, kind = PILReader, "raster"
    else:
        raise unsupported_error(path)
    loader, reader = _loader(reader_type, dtype, converter)
    try:
        data, meta = loader(path, reader=reader)  # a runtime reader's errors propagate as they are
        array = data.numpy()
    except Exception as err:
        raise DataError(f"{path}: cannot read ({one_line(err)})") from err
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
    NIfTI volumes are ``(C, X, Y, Z)`` as nibabel gives them, MHA/NRRD in the same axis order.
    """
    return _load(path, np.float32, _image_mode)


def check_same_grid(meta: dict, reference: dict, what: str) -> None:
    """Raise unless two images share shape and (within 1e-4) affine; ``what`` names them."""
    shape, ref_shape = meta["spatial_shape"], reference["spatial_shape"]
    if shape != ref_shape:
        raise DataError(f"{meta['path']}: shape {shape} differs from {what} {ref_shape}")
    if not np.allclose(meta["affine"], reference["affine"], rtol=1e-4, atol=1e-4):
        raise DataError(
            f"{meta['path']}: geometry (spacing, origin or direction) differs from {what}"
        )


def read_channels(paths: Sequence[str | Path]) -> tuple[np.ndarray, dict]:
    """One image from several files (one or more channels each) on one grid, concatenated."""
    arrays, metas = zip(*(read_image(p) for p in paths), strict=True)
    for meta in metas[1:]:
        check_same_grid(meta, metas[0], f"channel file {Path(paths[0]).name}")
    return np.concatenate(arrays), metas[0]


def as_labels(array: np.ndarray, where: str | Path) -> np.ndarray:
    """Validate class indices (finite, integral, non-negative) and return them as int64."""
    if array.dtype.kind == "f" and not np.array_equal(array, np.round(array)):
        raise DataError(f"{where}: mask has non-integer values")
    if array.dtype.kind not in "biuf":
        raise DataError(f"{where}: mask has unsupported data type {array.dtype}")
    if array.size and array.min() < 0:
        raise DataError(f"{where}: mask has negative values")
    return array.astype(np.int64)


def read_label(path: str | Path, binarize: float | None = None) -> tuple[np.ndarray, dict]:
    """Mask as an int64 label map of the image's spatial shape (no channel axis), and its meta.

    RGB(A) masks whose colour channels are identical are accepted; alpha is ignored. With
    ``binarize`` the mask becomes ``mean over channels > binarize`` (e.g. 127 for JPEG masks,
    0 for instance ids).
    """
    array, meta = _load(path, np.float64, None)
    if meta["kind"] == "raster" and array.shape[0] in (2, 4):
        array = array[:-1]
    if binarize is not None:
        return (array.mean(0) > binarize).astype(np.int64), meta
    if not (array == array[:1]).all():
        raise DataError(
            f"{path}: mask has {array.shape[0]} differing channels, expected one "
            "(binarise colour or JPEG masks with --binarize or data.binarize)"
        )
    return as_labels(array[0], path), meta


def read_mask(path: str | Path, binarize: float | None = None) -> np.ndarray:
    """The label map of :func:`read_label`."""
    return read_label(path, binarize)[0]
