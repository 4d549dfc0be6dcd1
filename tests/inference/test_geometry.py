"""Formats (16-bit TIFF, MHA/MHD/NRRD), spacing, and predictions on the input's exact grid."""

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk
import torch

from ldseg.cli import main
from ldseg.data.layouts import find_pairs
from ldseg.training import train
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
    assert sorted(p.name for p in out.iterdir()) == [
        "oblique.nii.gz",
        "prediction.json",
        "scan.mha",
    ]

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


def test_trajectory_of_a_resampled_volume_uses_its_spacing(run_3d, tmp_path, monkeypatch):
    """--save-trajectory on a NIfTI of another spacing: the one sampling pass resamples it to
    the run's spacing and goes through 16x16x8 windows (it used to skip both)."""
    from ldseg.inference import Predictor

    path = tmp_path / "in" / "v.nii.gz"
    path.parent.mkdir()
    nib.save(
        nib.Nifti1Image(RNG.random((30, 20, 7)).astype(np.float32), np.diag([0.75, 1.5, 4.0, 1])),
        path,
    )
    predictor = Predictor.from_run(run_3d)
    seen = []
    original = predictor.model.sample
    monkeypatch.setattr(
        predictor.model,
        "sample",
        lambda x, *a, **k: seen.append(tuple(x.shape)) or original(x, *a, **k),
    )
    [plain] = predictor.predict_files([path], tmp_path / "plain")
    windows = list(seen)
    [mask] = predictor.predict_files([path], tmp_path / "traj", save_trajectory=True)
    assert windows == [(1, 1, 16, 16, 8)] * 4 and seen == windows * 2
    assert plain.read_bytes() == mask.read_bytes()
    assert (tmp_path / "traj" / "trajectory" / "v.gif").is_file()
