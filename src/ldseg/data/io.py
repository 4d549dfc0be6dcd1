"""Read images and masks (PNG, BMP, JPEG, TIFF, NIfTI, MHA/MHD, NRRD), write masks atomically in
the input's exact geometry, pair files."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import nibabel as nib
import numpy as np
import SimpleITK as sitk
from monai.data import ImageReader, NibabelReader, PILReader
from monai.transforms import LoadImage
from monai.utils import ensure_tuple
from PIL import Image

from ldseg.errors import DataError
from ldseg.utils import atomic_write

RASTER_SUFFIXES = (".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff")
VOLUME_SUFFIXES = (".nii", ".nii.gz")
ITK_SUFFIXES = (".mha", ".mhd", ".nrrd", ".nhdr")
COMPANION_SUFFIXES = (".raw", ".zraw", ".raw.gz")  # pixel data of .mhd/.nhdr headers
IMAGE_DIRS = ("images", "Image")
MASK_DIRS = ("masks", "labels", "Label")
MASK_SUFFIXES = ("_label", "_mask", "_gt", "_anno", "_seg")
_SHOWN = 5  # unmatched files named in an error message


def unsupported_error(path: Path) -> DataError:
    """The error for a file whose suffix is not a supported image format."""
    expected = ", ".join(RASTER_SUFFIXES + VOLUME_SUFFIXES + ITK_SUFFIXES)
    return DataError(f"{path}: unsupported file type (expected {expected})")


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


def file_stem(path: str | Path) -> str:
    """File name without its suffix; ``.nii.gz`` counts as one suffix."""
    name = Path(path).name
    return name[: -len(".nii.gz")] if name.lower().endswith(".nii.gz") else Path(name).stem


def is_volume(path: str | Path) -> bool:
    """Whether the file is NIfTI (``.nii`` or ``.nii.gz``)."""
    return Path(path).name.lower().endswith(VOLUME_SUFFIXES)


def is_itk(path: str | Path) -> bool:
    """Whether the file is MetaImage or NRRD (read and written with SimpleITK)."""
    return Path(path).name.lower().endswith(ITK_SUFFIXES)


def is_image_file(path: str | Path) -> bool:
    """Whether the suffix is a supported raster or volume format."""
    return Path(path).name.lower().endswith(RASTER_SUFFIXES + VOLUME_SUFFIXES + ITK_SUFFIXES)


class SimpleITKReader(ImageReader):
    """MONAI image reader for MetaImage and NRRD through SimpleITK.

    Arrays come in ``(x, y[, z][, c])`` order with a 4x4 RAS affine, as ``NibabelReader`` gives
    NIfTI, so both volume formats share one convention.
    """

    def verify_suffix(self, filename) -> bool:
        return all(is_itk(f) for f in ensure_tuple(filename))

    def read(self, data, **kwargs) -> sitk.Image:
        paths = ensure_tuple(data)
        if len(paths) != 1:
            raise ValueError("SimpleITKReader reads one file at a time")
        return sitk.ReadImage(str(paths[0]))

    def get_data(self, img: sitk.Image) -> tuple[np.ndarray, dict]:
        dims = img.GetDimension()
        array = np.moveaxis(sitk.GetArrayFromImage(img), range(dims), range(dims)[::-1])
        affine = itk_affine(img)
        channel = float("nan") if img.GetNumberOfComponentsPerPixel() == 1 else -1
        meta = {"affine": affine, "original_affine": affine, "original_channel_dim": channel}
        return array, meta | {"spatial_shape": np.asarray(array.shape[:dims]), "space": "RAS"}


def itk_affine(img: sitk.Image | sitk.ImageFileReader) -> np.ndarray:
    """4x4 RAS affine of a SimpleITK image (its LPS direction, spacing and origin)."""
    dims = len(img.GetSpacing())
    affine = np.eye(4)
    affine[:dims, :dims] = np.reshape(img.GetDirection(), (dims, dims)) * img.GetSpacing()
    affine[:dims, 3] = img.GetOrigin()
    return np.diag([-1.0, -1.0, 1.0, 1.0]) @ affine


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


def _as_labels(array: np.ndarray, where: str | Path) -> np.ndarray:
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
    return _as_labels(array[0], path), meta


def read_mask(path: str | Path, binarize: float | None = None) -> np.ndarray:
    """The label map of :func:`read_label`."""
    return read_label(path, binarize)[0]


def mask_suffix(reference: str | Path) -> str:
    """Suffix of a mask written for ``reference``: .nii.gz, .mha, .nrrd, or .png for rasters."""
    name = Path(reference).name.lower()
    if is_volume(name):
        return ".nii.gz"
    if is_itk(name):
        return ".nrrd" if name.endswith((".nrrd", ".nhdr")) else ".mha"
    return ".png"


def write_mask(mask: np.ndarray, reference: str | Path, out_path: str | Path) -> Path:
    """Write class indices with the reference image's format and geometry; returns the path.

    Raster reference: PNG (uint8, or uint16 above 255) of the ``(H, W)`` mask.
    NIfTI reference: ``.nii.gz`` with the reference's affine and header, dtype uint8 (or uint16).
    MHA/MHD/NRRD reference: ``.mha``/``.nrrd`` with its origin, spacing and direction.
    """
    reference, out_path = Path(reference), Path(out_path)
    labels = _as_labels(np.asarray(mask), out_path)
    if labels.size and labels.max() > np.iinfo(np.uint16).max:
        raise DataError(f"{out_path}: mask values above 65535 cannot be written")
    labels = labels.astype(np.uint8 if not labels.size or labels.max() <= 255 else np.uint16)
    try:
        if is_volume(reference):
            ref = nib.load(reference)
            expected = tuple(ref.shape[:3])
        elif is_itk(reference):
            ref = sitk.ImageFileReader()
            ref.SetFileName(str(reference))
            ref.ReadImageInformation()
            expected = tuple(ref.GetSize())
        else:
            with Image.open(reference) as ref_image:
                expected = (ref_image.height, ref_image.width)
    except Exception as err:
        raise DataError(f"{reference}: cannot read reference ({_one_line(err)})") from err
    if labels.shape != expected:
        raise DataError(f"{out_path}: mask shape {labels.shape} != reference shape {expected}")

    out_path = out_path.with_name(file_stem(out_path) + mask_suffix(reference))
    if is_volume(reference):
        header = ref.header.copy()
        header.set_data_dtype(labels.dtype)
        header.set_slope_inter(1, 0)
        return atomic_write(out_path, type(ref)(labels, ref.affine, header).to_filename)
    if is_itk(reference):
        image = sitk.GetImageFromArray(labels.transpose())
        image.SetOrigin(ref.GetOrigin())
        image.SetSpacing(ref.GetSpacing())
        image.SetDirection(ref.GetDirection())
        return atomic_write(out_path, lambda tmp: sitk.WriteImage(image, str(tmp), True))
    return atomic_write(out_path, lambda tmp: Image.fromarray(labels).save(tmp))


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


def find_pairs(folder: str | Path) -> list[Pair]:
    """Image/mask pairs of a dataset folder holding ``images``/``Image`` and ``masks``/``labels``/
    ``Label`` subfolders, matched by stem (mask suffixes ``_label``, ``_mask``, ... allowed)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder")
    image_dir = subfolder(folder, IMAGE_DIRS)
    if image_dir is None:
        raise DataError(f"{folder}: no image folder (expected one of {', '.join(IMAGE_DIRS)})")
    mask_dir = subfolder(folder, MASK_DIRS)
    if mask_dir is None:
        raise DataError(f"{folder}: no mask folder (expected one of {', '.join(MASK_DIRS)})")
    images, masks = folder_files(image_dir, True), folder_files(mask_dir, True)
    return pair_files(images, masks, folder)


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
