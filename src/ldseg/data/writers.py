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
    reference, out_path = Path(reference), Path(out_path)
    labels = as_labels(np.asarray(mask), out_path)
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
        raise DataError(f"{reference}: cannot read reference ({one_line(err)})") from err
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


PNG_SCALE = 65535  # a 16-bit PNG probability map holds value * PNG_SCALE


def write_probability_map(values: np.ndarray, reference: str | Path, out_path: str | Path) -> Path:
    """Write a map of values in [0, 1] beside a mask: float32 NIfTI with the reference's affine
    and header for a NIfTI reference, else a 16-bit PNG holding ``value * PNG_SCALE``.
    ``out_path``'s suffix is replaced by the format's."""
    reference, out_path = Path(reference), Path(out_path)
    values = np.asarray(values, dtype=np.float32)
    stem = file_stem(out_path)
    if is_volume(reference):
        ref = nib.load(reference)
        header = ref.header.copy()
        header.set_data_dtype(np.float32)
        image = type(ref)(values, ref.affine, header)
        return atomic_write(out_path.with_name(f"{stem}.nii.gz"), image.to_filename)
    scaled = np.round(np.clip(values, 0, 1) * PNG_SCALE).astype(np.uint16)
    return atomic_write(out_path.with_name(f"{stem}.png"), Image.fromarray(scaled).save)
