"""The file formats ldseg reads and writes: suffixes, names, and SimpleITK's MetaImage/NRRD
reader for MONAI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk
from monai.data import ImageReader
from monai.utils import ensure_tuple

from ldseg.errors import DataError

RASTER_SUFFIXES = (".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff")
VOLUME_SUFFIXES = (".nii", ".nii.gz")
ITK_SUFFIXES = (".mha", ".mhd", ".nrrd", ".nhdr")
COMPANION_SUFFIXES = (".raw", ".zraw", ".raw.gz")  # pixel data of .mhd/.nhdr headers
IMAGE_DIRS = ("images", "Image")
MASK_DIRS = ("masks", "labels", "Label")
MASK_SUFFIXES = ("_label", "_mask", "_gt", "_anno", "_seg")


def unsupported_error(path: Path) -> DataError:
    """The error for a file whose suffix is not a supported image format."""
    expected = ", ".join(RASTER_SUFFIXES + VOLUME_SUFFIXES + ITK_SUFFIXES)
    return DataError(f"{path}: unsupported file type (expected {expected})")


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


def mask_suffix(reference: str | Path) -> str:
    """Suffix of a mask written for ``reference``: .nii.gz, .mha, .nrrd, or .png for rasters."""
    name = Path(reference).name.lower()
    if is_volume(name):
        return ".nii.gz"
    if is_itk(name):
        return ".nrrd" if name.endswith((".nrrd", ".nhdr")) else ".mha"
    return ".png"


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
