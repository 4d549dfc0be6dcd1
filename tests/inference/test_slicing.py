"""A slice-wise run (``data.slicing: 2d``) predicts volumes slice by slice on their own grid."""

import json

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

from ldseg.cli import main
from ldseg.data.slices import volume_slices
from ldseg.data.transforms import resize_probabilities
from ldseg.errors import LDSegError
from ldseg.evaluation.postprocess import keep_largest_component
from ldseg.inference import Predictor
from tests.helpers import write_png
from tests.inference.test_geometry import itk_volume, oblique_affine

RNG = np.random.default_rng(0)


def test_slice_wise_prediction_keeps_shape_and_affine_of_an_oblique_volume(slicing_run, tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    nib.save(
        nib.Nifti1Image(RNG.random((30, 20, 7)).astype(np.float32), oblique_affine()),
        inputs / "oblique.nii.gz",
    )
    itk_volume(inputs / "scan.mha", RNG.random((25, 18, 6)).astype(np.float32))
    out = tmp_path / "out"
    args = ["predict", "--run", str(slicing_run), "--input", str(inputs), "--out", str(out)]
    assert main([*args, "--batch-size", "3"]) == 0
    names = ["oblique.nii.gz", "prediction.json", "scan.mha"]
    assert sorted(p.name for p in out.iterdir()) == names  # one volume per input
    result, reference = nib.load(out / "oblique.nii.gz"), nib.load(inputs / "oblique.nii.gz")
    assert result.shape == reference.shape == (30, 20, 7)
    np.testing.assert_array_equal(result.affine, reference.affine)
    result, reference = (
        sitk.ReadImage(str(out / "scan.mha")),
        sitk.ReadImage(str(inputs / "scan.mha")),
    )
    assert result.GetSize() == reference.GetSize() == (25, 18, 6)
    assert result.GetDirection() == reference.GetDirection()
    assert result.GetOrigin() == reference.GetOrigin()
    # batching slices changes nothing: the file's mask is predict_array's
    predictor = Predictor.from_run(slicing_run)
    alone = predictor.predict_array(
        nib.load(inputs / "oblique.nii.gz").get_fdata(), spacing=(0.7, 1.3, 2.5)
    )
    np.testing.assert_array_equal(np.asarray(nib.load(out / "oblique.nii.gz").dataobj), alone.mask)


def test_each_slice_is_predicted_as_a_2d_image_and_stacked_back(slicing_run):
    predictor = Predictor.from_run(slicing_run)
    volume = RNG.random((1, 18, 22, 5)).astype(np.float32)
    prediction = predictor.predict_array(volume, spacing=(1.0, 4.0, 1.0), samples=2)
    assert prediction.mask.shape == prediction.std.shape == (18, 22, 5)
    assert prediction.probabilities.shape == (3, 18, 22, 5)
    np.testing.assert_allclose(prediction.probabilities.sum(0), 1, atol=1e-4)
    seen = []
    original = predictor.moments
    predictor.moments = lambda images, shapes, *a, **k: (
        seen.append((tuple(images.shape), [tuple(s) for s in shapes]))
        or original(images, shapes, *a, **k)
    )
    predictor.predict_array(volume, spacing=(1.0, 4.0, 1.0))  # sliced along y, 22 slices
    assert seen == [((16, 1, 16, 16), [(18, 5)] * 16), ((6, 1, 16, 16), [(18, 5)] * 6)]


def test_a_volume_is_the_stack_of_its_slices_predicted_as_2d_images(slicing_run):
    """Each slice alone through the run's 2D pipeline from the volume's seed, resized back to
    its plane: stacked along the slice axis, they are the volume's prediction."""
    predictor = Predictor.from_run(slicing_run, postprocess=False)
    volume = RNG.random((1, 18, 22, 5)).astype(np.float32)
    spacing = (1.0, 4.0, 1.0)  # the largest spacing: cut along y
    prediction = predictor.predict_array(volume, spacing=spacing, seed=4)
    slices, axis = volume_slices(volume, predictor.config.data, 1, spacing)
    assert axis == 1 and len(slices) == 22
    pipeline = predictor.pipeline()
    alone = [
        resize_probabilities(pipeline(row[None], seeds=[4])[0][0], (18, 5)).numpy()
        for row in slices
    ]
    stacked = np.stack(alone, axis=axis + 1)
    np.testing.assert_allclose(prediction.probabilities, stacked, atol=1e-5)
    np.testing.assert_array_equal(prediction.mask, stacked.argmax(0))


def test_a_2d_image_for_a_slice_wise_run_is_one_line_and_no_mask(slicing_run, tmp_path, capsys):
    image = write_png(tmp_path / "in" / "a.png", RNG.integers(0, 255, (20, 20), dtype=np.uint8))
    out = tmp_path / "out"
    assert (
        main(["predict", "--run", str(slicing_run), "--input", str(image), "--out", str(out)]) == 1
    )
    error = capsys.readouterr().err.strip().splitlines()
    assert any("a.png: data.slicing 2d segments volumes" in line for line in error)
    assert not (out / "a.png").exists()
    assert "error" in json.loads((out / "prediction.json").read_text())["inputs"][0]
    with pytest.raises(LDSegError, match="records no trajectory"):
        Predictor.from_run(slicing_run).predict_array(RNG.random((8, 8, 3)), max_frames=5)


def test_largest_component_post_processing_is_applied_to_the_whole_volume(slicing_run):
    """Not per slice: a class's largest 3D component is kept, across slices."""
    predictor = Predictor.from_run(slicing_run)
    volume = RNG.random((1, 24, 20, 6)).astype(np.float32)
    plain = predictor.predict_array(volume).mask
    predictor.keep_largest = [1, 2]
    expected = keep_largest_component(plain, [1, 2])
    np.testing.assert_array_equal(predictor.predict_array(volume).mask, expected)
