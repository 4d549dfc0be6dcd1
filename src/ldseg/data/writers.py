"""Write label maps and probability maps atomically, in the reference image's exact format and
geometry (PNG for rasters; NIfTI, MHA or NRRD with the reference's header for volumes)."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import SimpleITK as sitk
from PIL import Image

from ldseg.data.formats import file_stem, is_itk, is_volume, mask_suffix
from ldseg.data.readers import as_labels, one_line
from ldseg.errors import DataError
from ldseg.utils import atomic_write


def write_mask(mask: np.ndarray, reference: str | Path, out_path: str | Path) -> Path:
    """Write class indices with the reference image's format and geometry; returns the path.

    Raster reference: PNG (uint8, or uint16 above 255) of the ``(H, W)`` mask.
    NIfTI reference: ``.nii.gz`` with the reference's affine and header, dtype uint8 (or uint16).
    MHA/MHD/NRRD reference: ``.mha``/``.nrrd`` with its origin, spacing and direction.
    """
    labels = as_labels(np.asarray(mask), Path(out_path))
    if labels.size and labels.max() > np.iinfo(np.uint16).max:
        raise DataError(f"{out_path}: mask values above 65535 cannot be written")
    labels = labels.astype(np.uint8 if not labels.size or labels.max() <= 255 else np.uint16)
    return _write_like(labels, reference, out_path)


PNG_SCALE = 65535  # a 16-bit PNG probability map holds value * PNG_SCALE


def write_probability_map(values: np.ndarray, reference: str | Path, out_path: str | Path) -> Path:
    """Write a map of values in [0, 1] beside a mask: float32 in the reference's volume format
    and geometry (NIfTI, MHA, NRRD), else a 16-bit PNG holding ``value * PNG_SCALE``.
    ``out_path``'s suffix is replaced by the format's."""
    values = np.asarray(values, dtype=np.float32)
    if not is_volume(reference) and not is_itk(reference):
        values = np.round(np.clip(values, 0, 1) * PNG_SCALE).astype(np.uint16)
    return _write_like(values, reference, out_path)


def _write_like(array: np.ndarray, reference: str | Path, out_path: str | Path) -> Path:
    """Write ``array`` (the reference's shape) atomically with the reference's format and
    geometry, at ``out_path`` with the format's suffix."""
    reference, out_path = Path(reference), Path(out_path)
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
        raise DataError(f"{reference}: cannot read reference ({one_line(err)})") from err
    if array.shape != expected:
        raise DataError(f"{out_path}: shape {array.shape} != reference shape {expected}")

    out_path = out_path.with_name(file_stem(out_path) + mask_suffix(reference))
    if is_volume(reference):
        header = ref.header.copy()
        header.set_data_dtype(array.dtype)
        header.set_slope_inter(1, 0)
        return atomic_write(out_path, type(ref)(array, ref.affine, header).to_filename)
    if is_itk(reference):
        image = sitk.GetImageFromArray(array.transpose())
        image.SetOrigin(ref.GetOrigin())
        image.SetSpacing(ref.GetSpacing())
        image.SetDirection(ref.GetDirection())
        return atomic_write(out_path, lambda tmp: sitk.WriteImage(image, str(tmp), True))
    return atomic_write(out_path, lambda tmp: Image.fromarray(array).save(tmp))
