"""The 2D configuration for volumes: the slice axis, a volume's slices as training samples."""

import numpy as np
import pytest
import torch

from ldseg.config import DataConfig
from ldseg.data.cases import load_cases
from ldseg.data.layouts import find_pairs
from ldseg.data.slices import slice_axis, slice_stems, volume_slices, volume_stem
from ldseg.errors import DataError
from tests.helpers import write_nifti, write_png

RNG = np.random.default_rng(0)


def test_the_slice_axis_is_the_largest_spacing_or_the_chosen_one():
    assert slice_axis((30, 20, 7), (0.7, 3.0, 2.5), None) == 1
    assert slice_axis((256, 216, 10), (1.0, 1.0, 1.0), None) == 2  # ties: fewest voxels
    assert slice_axis((10, 216, 256), None, None) == 0
    assert slice_axis((30, 20, 7), (0.7, 3.0, 2.5), 0) == 0


@pytest.mark.parametrize(("axis", "count", "plane"), [(None, 5, (20, 24)), (0, 20, (24, 5))])
def test_load_cases_gives_one_sample_per_slice_with_its_mask(tmp_path, axis, count, plane):
    image = RNG.random((20, 24, 5)).astype(np.float32) * 100
    mask = RNG.integers(0, 3, (20, 24, 5)).astype(np.uint8)
    affine = np.diag([1.0, 1.0, 5.0, 1.0])
    write_nifti(tmp_path / "images" / "p1_frame01.nii.gz", image, affine)
    write_nifti(tmp_path / "masks" / "p1_frame01.nii.gz", mask, affine)
    data = DataConfig(size=[16, 16], resize=False, intensity="zscore", slicing="2d")
    data.slice_axis = axis
    samples, channels, classes = load_cases(find_pairs(tmp_path), data, progress=False)
    assert (len(samples), channels, classes) == (count, 1, 3)
    letter = "z" if axis is None else "x"
    assert [s["stem"] for s in samples[:2]] == [f"p1_frame01_{letter}00", f"p1_frame01_{letter}01"]
    normalised = (image - image.mean()) / image.std()  # over the whole volume, not per slice
    for i, sample in enumerate(samples):
        assert sample["image"].shape == (1, *plane) and sample["mask"].shape == (1, *plane)
        expected = np.take(mask, i, axis=2 if axis is None else 0)
        np.testing.assert_array_equal(sample["mask"][0].numpy(), expected)
        got, want = sample["image"][0].numpy(), np.take(normalised, i, 2 if axis is None else 0)
        np.testing.assert_allclose(got, want, atol=1e-4)


def test_slices_are_resized_to_the_slice_size():
    slices, axis = volume_slices(
        RNG.random((1, 20, 24, 5)), DataConfig(slicing="2d", size=[8, 8]), 1
    )
    assert axis == 2 and tuple(slices.shape) == (5, 1, 8, 8) and slices.dtype == torch.float32


def test_a_2d_image_for_a_slice_wise_run_is_one_line_naming_it(tmp_path):
    write_png(tmp_path / "images" / "a.png", RNG.integers(0, 255, (16, 16), dtype=np.uint8))
    write_png(tmp_path / "masks" / "a.png", RNG.integers(0, 2, (16, 16), dtype=np.uint8))
    data = DataConfig(size=[16, 16], slicing="2d")
    with pytest.raises(DataError, match=r"a\.png: data\.slicing 2d segments volumes") as err:
        load_cases(find_pairs(tmp_path), data, progress=False)
    assert "\n" not in str(err.value)


def test_a_slice_stem_gives_back_its_volume_stem():
    stems = slice_stems("patient001_frame01", axis=2, count=12)
    assert stems[3] == "patient001_frame01_z03"
    assert {volume_stem(s) for s in stems} == {"patient001_frame01"}
