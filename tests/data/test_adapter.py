"""The case adapter: a whole image is one network input on its own grid; a volume of a run that
slices (``data.slicing: 2d``) is its slices along the axis of largest spacing, whose
predictions stack back onto the volume's grid."""

import numpy as np
import pytest
import torch

from ldseg.config import DataConfig
from ldseg.data.adapter import CaseAdapter, sample_input
from ldseg.data.cases import Case
from ldseg.data.slices import mask_slices, volume_slices
from ldseg.data.transforms import prepare_image
from ldseg.errors import DataError

RNG = np.random.default_rng(0)


def volume_case(shape=(18, 22, 5), spacing=(1.0, 4.0, 1.0)) -> Case:
    image = RNG.random((1, *shape)).astype(np.float32)
    mask = np.zeros(shape, dtype=np.int64)
    mask[4:9, 2:6, 1:3] = 1  # foreground on slices 2..5 along y
    return Case("p1", image, mask, spacing, "p1.nii.gz")


def test_a_whole_image_is_one_input_on_its_own_grid():
    data = DataConfig(size=[16, 16])
    adapter = CaseAdapter(data, 1)
    image = RNG.random((1, 40, 36)).astype(np.float32)
    inputs = adapter.inputs(image, stem="a")
    assert inputs.images.shape == (1, 1, 16, 16) and inputs.axis is None
    torch.testing.assert_close(inputs.images[0], prepare_image(image, data, 1))
    assert inputs.output_shapes() == [(40, 36)]
    row = RNG.random((40, 36))
    assert inputs.assemble([row]) is row
    assert adapter.array_inputs(image[0]).images.shape == (1, 1, 16, 16)  # channel axis added
    with pytest.raises(DataError, match=r"x\.nii: expected a 2D image with a channel axis"):
        adapter.inputs(RNG.random((1, 8, 8, 4)), source="x.nii")
    assert adapter.trajectory_refusal is None and adapter.memory_only is None


@pytest.mark.parametrize(("spacing", "axis"), [((1.0, 4.0, 1.0), 1), ((1.0, 1.0, 1.0), 2)])
def test_a_volume_is_cut_along_its_largest_spacing_and_stacked_back(spacing, axis):
    data = DataConfig(size=[16, 16], slicing="2d")
    adapter = CaseAdapter(data, 1)
    case = volume_case(spacing=spacing)
    inputs = adapter.case_inputs(case)
    count = case.mask.shape[axis]
    plane = tuple(n for a, n in enumerate(case.mask.shape) if a != axis)
    assert inputs.axis == axis and inputs.images.shape == (count, 1, 16, 16)
    torch.testing.assert_close(inputs.images, volume_slices(case.image, data, 1, spacing)[0])
    assert inputs.output_shapes() == [plane] * count
    rows = [np.take(case.mask, i, axis=axis) for i in range(count)]
    np.testing.assert_array_equal(inputs.assemble(rows), case.mask)
    maps = [np.stack([row, 1 - row]) for row in rows]  # (K, *plane) per slice
    stacked = inputs.assemble(maps, channel_first=True)
    np.testing.assert_array_equal(stacked, np.stack([case.mask, 1 - case.mask]))
    assert adapter.array_inputs(case.image[0], spacing).images.shape == (count, 1, 16, 16)
    assert "records no trajectory" in adapter.trajectory_refusal
    assert "data.cache lazy" in adapter.memory_only


def test_training_samples_are_the_network_inputs_with_their_masks():
    data = DataConfig(size=[16, 16], slicing="2d")
    adapter = CaseAdapter(data, 1)
    case = volume_case()
    inputs = adapter.case_inputs(case)
    samples = adapter.samples(case)
    assert [s["stem"] for s in samples[:2]] == ["p1_y00", "p1_y01"] and len(samples) == 22
    masks = mask_slices(case.mask, 1, (16, 16))
    for i, sample in enumerate(samples):
        torch.testing.assert_close(sample["image"], inputs.images[i])
        torch.testing.assert_close(sample["mask"], masks[i])
    kept = adapter.samples(case, skip_empty_slices=True)
    assert [s["stem"] for s in kept] == ["p1_y02", "p1_y03", "p1_y04", "p1_y05"]
    whole = CaseAdapter(DataConfig(size=[16, 16]), 1)
    image_case = Case("a", case.image[..., 0], np.zeros((18, 22), np.int64), (1.0, 1.0), "a.png")
    assert len(whole.samples(image_case, skip_empty_slices=True)) == 1  # an image always counts


def test_the_cases_of_samples_are_volumes_for_a_run_that_slices():
    stems = ["p1_z00", "p1_z01", "p1_z02", "p2_z00", "p2_z01"]
    samples = [
        {"image": torch.rand(1, 8, 8), "mask": torch.randint(0, 3, (1, 8, 8)), "stem": stem}
        for stem in stems
    ]
    sliced = CaseAdapter(DataConfig(size=[8, 8], slicing="2d"), 1)
    volumes = list(sliced.sample_cases(iter(samples)))
    assert [(v.stem, v.shape) for v in volumes] == [("p1", (8, 8, 3)), ("p2", (8, 8, 2))]
    assert volumes[1].output_shapes() == [(8, 8)] * 2
    np.testing.assert_array_equal(volumes[1].mask[..., 1], samples[4]["mask"][0].numpy())
    torch.testing.assert_close(volumes[1].images[1], samples[4]["image"])
    whole = CaseAdapter(DataConfig(size=[8, 8]), 1)
    cases = list(whole.sample_cases(samples))
    assert [c.stem for c in cases] == stems and all(c.shape == (8, 8) for c in cases)
    one = sample_input(samples[0])
    assert one.images.shape == (1, 1, 8, 8) and one.mask.shape == (8, 8)
