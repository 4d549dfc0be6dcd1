"""Reading images and masks: formats, layouts, geometry, and errors that name the file."""

import re
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from PIL import Image

from ldseg.data.formats import file_stem, is_volume
from ldseg.data.readers import read_channels, read_image, read_mask
from ldseg.data.writers import write_mask
from ldseg.errors import DataError
from tests.helpers import write_nifti, write_png

RNG = np.random.default_rng(0)


def oblique_affine() -> np.ndarray:
    """Rotation about z by 30 degrees, spacing (0.7, 1.3, 2.5), an offset."""
    a = np.deg2rad(30)
    rotation = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    affine = np.eye(4)
    affine[:3, :3] = rotation @ np.diag([0.7, 1.3, 2.5])
    affine[:3, 3] = [-12.5, 40.25, 7.0]
    return affine


def test_file_stem_and_is_volume():
    assert file_stem("a/case1.nii.gz") == "case1"
    assert file_stem("case.v2.png") == "case.v2"
    assert file_stem(Path("x/Case1_label.NII.GZ")) == "Case1_label"
    assert is_volume("a.nii") and is_volume("a.nii.gz") and not is_volume("a.png")


def test_read_png_keeps_row_major_layout(tmp_path):
    grey = RNG.integers(0, 256, (3, 5), dtype=np.uint8)
    image, meta = read_image(write_png(tmp_path / "g.png", grey))
    assert image.shape == (1, 3, 5) and image.dtype == np.float32
    np.testing.assert_array_equal(image[0], grey)
    assert meta["kind"] == "raster" and meta["spatial_shape"] == (3, 5)
    np.testing.assert_array_equal(meta["affine"], np.eye(4))

    rgb = RNG.integers(0, 256, (3, 5, 3), dtype=np.uint8)
    image, _ = read_image(write_png(tmp_path / "c.png", rgb))
    np.testing.assert_array_equal(image, rgb.transpose(2, 0, 1))

    rgba = np.dstack([rgb, np.full((3, 5), 7, np.uint8)])
    image, _ = read_image(write_png(tmp_path / "ca.png", rgba))
    np.testing.assert_array_equal(image, rgb.transpose(2, 0, 1))


@pytest.mark.parametrize("suffix", [".bmp", ".tif"])
def test_read_other_raster_formats(tmp_path, suffix):
    grey = RNG.integers(0, 256, (4, 6), dtype=np.uint8)
    image, _ = read_image(write_png(tmp_path / f"g{suffix}", grey))
    np.testing.assert_array_equal(image[0], grey)


def test_read_nifti_keeps_layout_and_affine(tmp_path):
    data = RNG.normal(size=(4, 5, 6)).astype(np.float32)
    image, meta = read_image(write_nifti(tmp_path / "v.nii.gz", data, oblique_affine()))
    assert image.shape == (1, 4, 5, 6) and meta["kind"] == "volume"
    np.testing.assert_array_equal(image[0], data)
    np.testing.assert_allclose(meta["affine"], oblique_affine())
    np.testing.assert_allclose(meta["spacing"], (0.7, 1.3, 2.5))


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("missing.png", None),
        ("text.png", b"not an image"),
        ("cut.nii.gz", "truncated"),
        ("notes.txt", b"hello"),
        ("nan.nii.gz", "nan"),
        ("empty.nii.gz", "empty"),
    ],
)
def test_read_image_errors_name_the_file(tmp_path, name, content):
    path = tmp_path / name
    if content == "truncated":
        whole = write_nifti(
            tmp_path / "whole.nii.gz", np.ones((20, 20, 20), np.float32)
        ).read_bytes()
        path.write_bytes(whole[: len(whole) // 2])
    elif content == "nan":
        write_nifti(path, np.array([[[1.0, np.nan]]], np.float32))
    elif content == "empty":
        write_nifti(path, np.zeros((0, 3, 3), np.float32))
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(DataError, match=re.escape(name)) as info:
        read_image(path)
    assert "\n" not in str(info.value)


def test_read_mask(tmp_path):
    labels = RNG.integers(0, 4, (3, 5), dtype=np.uint8)
    mask = read_mask(write_png(tmp_path / "m.png", labels))
    assert mask.dtype == np.int64 and mask.shape == (3, 5)
    np.testing.assert_array_equal(mask, labels)
    # RGB and RGBA masks with identical colour channels are accepted
    np.testing.assert_array_equal(
        read_mask(write_png(tmp_path / "rgb.png", np.dstack([labels] * 3))), labels
    )
    rgba = np.dstack([labels] * 3 + [np.full((3, 5), 255, np.uint8)])
    np.testing.assert_array_equal(read_mask(write_png(tmp_path / "rgba.png", rgba)), labels)
    volume = RNG.integers(0, 3, (4, 5, 6)).astype(np.uint8)
    np.testing.assert_array_equal(read_mask(write_nifti(tmp_path / "m.nii.gz", volume)), volume)


def test_read_mask_errors(tmp_path):
    colours = RNG.integers(0, 4, (3, 5, 3), dtype=np.uint8)
    with pytest.raises(DataError, match=r"colour\.png.*channels"):
        read_mask(write_png(tmp_path / "colour.png", colours))
    with pytest.raises(DataError, match=r"frac\.nii\.gz.*non-integer"):
        read_mask(write_nifti(tmp_path / "frac.nii.gz", np.full((2, 2, 2), 0.5, np.float32)))


def itk_volume(path, array_xyz, spacing=(0.6, 0.9, 3.0), origin=(5.5, -20.0, 31.25)):
    image = sitk.GetImageFromArray(array_xyz.transpose())
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    image.SetDirection(DIRECTION)
    sitk.WriteImage(image, str(path))
    return path


DIRECTION = (0.0, -0.6, 0.8, 1.0, 0.0, 0.0, 0.0, 0.8, 0.6)  # oblique, orthonormal


def test_sixteen_bit_tiff_and_png(tmp_path):
    array = (RNG.random((5, 7)) * 60000).astype(np.uint16)
    for name in ("a.tif", "a.png"):
        Image.fromarray(array).save(tmp_path / name)
        image, _ = read_image(tmp_path / name)
        np.testing.assert_array_equal(image[0], array)
    labels = np.array([[0, 300], [2, 1]], np.uint16)  # 16-bit label map
    Image.fromarray(labels).save(tmp_path / "m.png")
    np.testing.assert_array_equal(read_mask(tmp_path / "m.png"), labels)


@pytest.mark.parametrize("suffix", [".mha", ".mhd", ".nrrd"])
def test_itk_formats_read_and_write_with_geometry(tmp_path, suffix):
    array = RNG.random((6, 5, 4)).astype(np.float32)
    path = itk_volume(tmp_path / f"v{suffix}", array)
    image, meta = read_image(path)
    assert image.shape == (1, 6, 5, 4) and meta["kind"] == "volume"
    np.testing.assert_allclose(image[0], array)
    np.testing.assert_allclose(meta["spacing"], (0.6, 0.9, 3.0))
    out = write_mask(RNG.integers(0, 3, (6, 5, 4)), path, tmp_path / "out" / "v.png")
    assert out.suffix == (".nrrd" if suffix == ".nrrd" else ".mha")
    written, reference = sitk.ReadImage(str(out)), sitk.ReadImage(str(path))
    assert written.GetSize() == reference.GetSize()
    # NRRD stores direction x spacing as text, so a re-read may differ in the last bit
    tolerance = 1e-12 if suffix == ".nrrd" else 0
    for get in ("GetOrigin", "GetSpacing", "GetDirection"):
        np.testing.assert_allclose(getattr(written, get)(), getattr(reference, get)(), tolerance)
    _, written_meta = read_image(out)
    np.testing.assert_allclose(written_meta["affine"], meta["affine"], tolerance)


def test_multichannel_files_must_share_a_grid(tmp_path):
    a = itk_volume(tmp_path / "c_0000.mha", RNG.random((4, 4, 3)))
    b = itk_volume(tmp_path / "c_0001.mha", RNG.random((4, 4, 3)))
    image, _ = read_channels([a, b])
    assert image.shape == (2, 4, 4, 3)
    moved = itk_volume(tmp_path / "c_0002.mha", RNG.random((4, 4, 3)), origin=(0.0, 0.0, 0.0))
    with pytest.raises(DataError, match=r"c_0002\.mha: geometry .* differs from channel file"):
        read_channels([a, moved])
