"""Formats (16-bit TIFF, MHA/MHD/NRRD), spacing, and predictions on the input's exact grid."""

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk
import torch
from PIL import Image

from ldseg.cli import main
from ldseg.config import DataConfig
from ldseg.data.geometry import target_shape
from ldseg.data.io import find_pairs, read_channels, read_image, read_mask, write_mask
from ldseg.errors import DataError
from ldseg.training.trainer import train
from tests.helpers import tiny_config, tiny_dataset

RNG = np.random.default_rng(0)
DIRECTION = (0.0, -0.6, 0.8, 1.0, 0.0, 0.0, 0.0, 0.8, 0.6)  # oblique, orthonormal


def oblique_affine() -> np.ndarray:
    """Rotation about z by 30 degrees and x by 20, spacing (0.7, 1.3, 2.5), an offset."""
    a, b = np.deg2rad(30), np.deg2rad(20)
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    affine = np.eye(4)
    affine[:3, :3] = rz @ rx @ np.diag([0.7, 1.3, 2.5])
    affine[:3, 3] = [-12.5, 40.25, 7.0]
    return affine


def itk_volume(path, array_xyz, spacing=(0.6, 0.9, 3.0), origin=(5.5, -20.0, 31.25)):
    image = sitk.GetImageFromArray(array_xyz.transpose())
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    image.SetDirection(DIRECTION)
    sitk.WriteImage(image, str(path))
    return path


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


def test_target_shape():
    native = DataConfig(size=[16, 16, 8], resize=False)
    assert target_shape((30, 20, 7), (0.7, 1.3, 2.5), native) == (30, 20, 7)
    native.spacing = [1.4, 1.3, 5.0]
    assert target_shape((30, 20, 7), (0.7, 1.3, 2.5), native) == (15, 20, 4)
    assert target_shape((30, 20, 7), (1, 1, 1), DataConfig(size=[16, 16, 8])) == (16, 16, 8)


@pytest.fixture(scope="module")
def run_3d(tmp_path_factory):
    """A 3D run at native resolution resampled to spacing (1.5, 1.5, 2) with 16x16x8 windows."""
    root = tmp_path_factory.mktemp("geometry")
    data = tiny_dataset(root / "data", num_cases=3, size=(24, 24, 8))
    config = tiny_config(size=(16, 16, 8), epochs=1)
    config.model.latent_factor = [16, 16, 4]
    config.data.resize, config.data.spacing = False, [1.5, 1.5, 2.0]
    config.train.batch_size = 2
    train(config, find_pairs(data), None, root / "run", progress=False)
    return root / "run"


def test_predict_keeps_oblique_nifti_and_mha_geometry(run_3d, tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    volume = nib.Nifti1Image(RNG.random((30, 20, 7)).astype(np.float32), oblique_affine())
    volume.header.set_xyzt_units("mm")
    nib.save(volume, inputs / "oblique.nii.gz")
    itk_volume(inputs / "scan.mha", RNG.random((25, 18, 6)).astype(np.float32))
    out = tmp_path / "out"
    assert main(["predict", "--run", str(run_3d), "--input", str(inputs), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["oblique.nii.gz", "scan.mha"]

    result, reference = nib.load(out / "oblique.nii.gz"), nib.load(inputs / "oblique.nii.gz")
    assert result.shape == reference.shape == (30, 20, 7)
    np.testing.assert_array_equal(result.affine, reference.affine)
    np.testing.assert_array_equal(result.header.get_zooms(), reference.header.get_zooms())
    np.testing.assert_array_equal(result.header.get_qform(), reference.header.get_qform())
    assert int(np.asarray(result.dataobj).max()) <= 2

    result, reference = (
        sitk.ReadImage(str(out / "scan.mha")),
        sitk.ReadImage(str(inputs / "scan.mha")),
    )
    assert result.GetSize() == reference.GetSize() == (25, 18, 6)
    assert result.GetOrigin() == reference.GetOrigin()
    assert result.GetSpacing() == reference.GetSpacing()
    assert result.GetDirection() == reference.GetDirection()
    assert result.GetPixelID() == sitk.sitkUInt8


def test_predict_resamples_to_the_run_spacing_and_back(run_3d, monkeypatch):
    from ldseg.inference import Predictor

    predictor = Predictor.from_run(run_3d)
    seen = []
    original = predictor.model.sample
    monkeypatch.setattr(
        predictor.model, "sample", lambda x, *a, **k: seen.append(x.shape) or original(x, *a, **k)
    )
    image = RNG.random((1, 30, 20, 7)).astype(np.float32)
    prediction = predictor.predict_array(image, spacing=(0.75, 1.5, 4.0))
    assert prediction.mask.shape == (30, 20, 7)
    # resampled to (15, 20, 14) at spacing (1.5, 1.5, 2): windows of 16x16x8, padded in x
    assert seen and all(tuple(s) == (1, 1, 16, 16, 8) for s in seen)
    assert len(seen) == 2 * 2  # 2 windows in y (20 = 16 + 4) and 2 in z (14 = 8 + 6)
    assert torch.is_tensor(torch.as_tensor(prediction.probabilities))
