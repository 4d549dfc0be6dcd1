"""Writing masks atomically in the reference image's format and geometry."""

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from PIL import Image

from ldseg.data.readers import read_mask
from ldseg.data.writers import write_mask
from ldseg.errors import DataError, LDSegError
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


def test_write_mask_png(tmp_path):
    reference = write_png(tmp_path / "img.jpg", np.zeros((3, 5), np.uint8))
    labels = RNG.integers(0, 4, (3, 5))
    out = write_mask(labels, reference, tmp_path / "out" / "case.nii.gz")
    assert out == tmp_path / "out" / "case.png"
    with Image.open(out) as written:
        assert written.mode == "L" and written.size == (5, 3)
    np.testing.assert_array_equal(read_mask(out), labels)

    big = labels * 100
    out = write_mask(big, reference, tmp_path / "big.png")
    assert np.asarray(Image.open(out)).dtype == np.uint16
    np.testing.assert_array_equal(read_mask(out), big)


def test_write_mask_nifti_keeps_geometry(tmp_path):
    affine = oblique_affine()
    reference = write_nifti(tmp_path / "img.nii.gz", np.zeros((4, 5, 6), np.int16), affine)
    labels = RNG.integers(0, 3, (4, 5, 6))
    out = write_mask(labels, reference, tmp_path / "case.png")
    assert out.name == "case.nii.gz"
    written, ref = nib.load(out), nib.load(reference)
    assert written.get_data_dtype() == np.uint8
    np.testing.assert_array_equal(written.affine, ref.affine)
    np.testing.assert_array_equal(written.header.get_zooms(), ref.header.get_zooms())
    np.testing.assert_array_equal(written.header.get_sform(), ref.header.get_sform())
    np.testing.assert_array_equal(written.header.get_qform(), ref.header.get_qform())
    np.testing.assert_array_equal(np.asanyarray(written.dataobj), labels)


def test_write_mask_is_atomic(tmp_path):
    reference = write_png(tmp_path / "img.png", np.zeros((3, 5), np.uint8))
    out_dir = tmp_path / "out"
    write_mask(np.ones((3, 5), int), reference, out_dir / "a.png")
    with pytest.raises(DataError, match=r"a\.png"):  # wrong shape: nothing written or replaced
        write_mask(np.zeros((5, 3), int), reference, out_dir / "a.png")
    with pytest.raises(DataError, match=r"b\.png"):  # values too large for PNG
        write_mask(np.full((3, 5), 70000), reference, out_dir / "b.png")
    assert sorted(p.name for p in out_dir.iterdir()) == ["a.png"]
    np.testing.assert_array_equal(read_mask(out_dir / "a.png"), 1)


def test_write_mask_cleans_temp_file_on_failure(tmp_path, monkeypatch):
    reference = write_png(tmp_path / "img.png", np.zeros((3, 5), np.uint8))

    def failing_save(self, path, *args, **kwargs):
        Path(path).write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", failing_save)
    with pytest.raises(LDSegError, match=r"a\.png: cannot write \(disk full\)"):
        write_mask(np.ones((3, 5), int), reference, tmp_path / "out" / "a.png")
    assert list((tmp_path / "out").iterdir()) == []
