"""A run folder alone is enough to predict; outputs keep each input's size and geometry."""

import shutil

import nibabel as nib
import numpy as np
import pytest
from PIL import Image

from ldseg.data.layouts import find_pairs
from ldseg.inference import Predictor
from ldseg.training import train
from tests.helpers import tiny_config, tiny_dataset


@pytest.fixture(scope="module")
def run_2d(tmp_path_factory):
    root = tmp_path_factory.mktemp("run2d")
    data = tiny_dataset(root / "data", num_cases=4, size=(32, 32))
    train(tiny_config(epochs=1), find_pairs(data), None, root / "run", progress=False)
    return root / "run"


def test_predict_array_any_size_and_channels(run_2d):
    predictor = Predictor.from_run(run_2d)
    out = predictor.predict_array(np.random.rand(50, 70).astype(np.float32))
    assert out.mask.shape == (50, 70) and out.mask.dtype == np.uint8
    assert out.probabilities.shape == (3, 50, 70)
    np.testing.assert_allclose(out.probabilities.sum(0), 1, atol=1e-5)
    rgb = predictor.predict_array(np.random.rand(3, 40, 40))
    assert rgb.mask.shape == (40, 40)


def test_same_seed_same_mask_and_steps_reach_the_denoiser(run_2d):
    predictor = Predictor.from_run(run_2d)
    image = np.random.default_rng(0).random((32, 32), dtype=np.float32)
    a = predictor.predict_array(image, steps=2, seed=5)
    b = predictor.predict_array(image, steps=2, seed=5)
    np.testing.assert_array_equal(a.probabilities, b.probabilities)
    calls = []
    hook = predictor.model.denoiser.register_forward_hook(
        lambda m, args, out: calls.append(args[2])
    )
    predictor.predict_array(image, steps=5, sampler="ddpm")
    hook.remove()
    assert [int(t) for t in calls] == [1000, 750, 500, 251, 1]


def test_copied_run_folder_predicts_png_with_input_size(run_2d, tmp_path):
    moved = tmp_path / "elsewhere"
    shutil.copytree(run_2d, moved)
    image = tmp_path / "scan.png"
    Image.fromarray((np.random.rand(45, 61) * 255).astype(np.uint8)).save(image)
    out = Predictor.from_run(moved).predict_file(image, tmp_path / "pred")
    assert out.name == "scan.png"
    mask = np.asarray(Image.open(out))
    assert mask.shape == (45, 61) and mask.max() < 3


def test_nifti_prediction_keeps_affine_and_header(tmp_path):
    data = tiny_dataset(tmp_path / "data", num_cases=3, size=(32, 32, 8))
    config = tiny_config(size=(32, 32, 8), epochs=1)
    config.model.latent_factor = [16, 16, 4]
    config.train.batch_size = 2
    train(config, find_pairs(data), None, tmp_path / "run", progress=False)
    affine = np.array([[0.0, -0.8, 0.1, 10], [0.9, 0.0, 0.0, -5], [0.0, 0.1, 3.0, 2], [0, 0, 0, 1]])
    volume = nib.Nifti1Image(np.random.rand(30, 20, 7).astype(np.float32), affine)
    volume.header.set_xyzt_units("mm")
    path = tmp_path / "vol.nii.gz"
    nib.save(volume, path)
    out = Predictor.from_run(tmp_path / "run").predict_file(path, tmp_path / "pred")
    assert out.name == "vol.nii.gz"
    result = nib.load(out)
    assert result.shape == (30, 20, 7)
    np.testing.assert_allclose(result.affine, nib.load(path).affine)
    assert result.header.get_xyzt_units() == ("mm", "unknown")
