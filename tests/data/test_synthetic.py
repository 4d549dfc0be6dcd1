"""The built-in synthetic cardiac data: shapes, anatomy, determinism and files on disk."""

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from PIL import Image

from ldseg.data.synthetic import synthetic_case, write_synthetic_dataset


def touches(mask: np.ndarray, a: int, b: int) -> bool:
    """Whether some voxel of class a has a face neighbour of class b."""
    region, other = mask == a, mask == b
    for axis in range(mask.ndim):
        lo, hi = [slice(None)] * mask.ndim, [slice(None)] * mask.ndim
        lo[axis], hi[axis] = slice(None, -1), slice(1, None)
        if (region[tuple(lo)] & other[tuple(hi)]).any() or (
            region[tuple(hi)] & other[tuple(lo)]
        ).any():
            return True
    return False


@pytest.mark.parametrize("size", [(64, 96), (24, 32, 40)])
def test_shapes_dtypes_ranges_and_anatomy(size: tuple[int, ...]) -> None:
    for index in range(5):
        image, mask = synthetic_case(np.random.default_rng(index), size)
        assert image.shape == (1, *size) and image.dtype == np.float32
        assert mask.shape == size and mask.dtype == np.int64
        assert image.min() >= 0 and image.max() <= 1
        assert set(np.unique(mask).tolist()) == {0, 1, 2, 3}
        assert touches(mask, 1, 2)  # the ring borders the cavity
        assert touches(mask, 3, 2) or touches(mask, 3, 1)  # the LA borders ring or cavity
        assert not touches(mask, 1, 0)  # the cavity is enclosed by ring and LA


@pytest.mark.parametrize("num_classes", [2, 3])
def test_fewer_classes_label_a_subset_of_the_same_anatomy(num_classes: int) -> None:
    image4, mask4 = synthetic_case(np.random.default_rng(3), (48, 48), 4)
    image, mask = synthetic_case(np.random.default_rng(3), (48, 48), num_classes)
    assert set(np.unique(mask).tolist()) == set(range(num_classes))
    np.testing.assert_array_equal(image, image4)
    np.testing.assert_array_equal(mask, np.where(mask4 < num_classes, mask4, 0))


def best_threshold_dice(image: np.ndarray, region: np.ndarray) -> float:
    """The best Dice of any intensity window [lo, hi] on a grid of 41 quantiles."""
    edges = np.quantile(image, np.linspace(0, 1, 41))
    best = 0.0
    for i, lo in enumerate(edges):
        for hi in edges[i + 1 :]:
            predicted = (image >= lo) & (image <= hi)
            best = max(best, 2 * (predicted & region).sum() / (predicted.sum() + region.sum()))
    return best


def test_no_class_is_found_by_an_intensity_window() -> None:
    """Even an oracle-chosen window per case and class segments poorly: the task needs shape."""
    cases = [synthetic_case(np.random.default_rng([4, i]), (64, 64)) for i in range(4)]
    for label in (1, 2, 3):
        dice = [best_threshold_dice(image[0], mask == label) for image, mask in cases]
        assert np.mean(dice) < 0.85, (label, dice)


def test_random_cases_vary_and_seeds_are_deterministic() -> None:
    first = synthetic_case(np.random.default_rng(7), (32, 32))
    again = synthetic_case(np.random.default_rng(7), (32, 32))
    other = synthetic_case(np.random.default_rng(8), (32, 32))
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[1], other[1]) and not np.allclose(first[0], other[0])


def test_bad_arguments() -> None:
    rng = np.random.default_rng(0)
    for size in [(64,), (2, 64), (16, 16, 16, 16)]:
        with pytest.raises(ValueError, match="size"):
            synthetic_case(rng, size)
    with pytest.raises(ValueError, match="num_classes"):
        synthetic_case(rng, (32, 32), num_classes=5)
    with pytest.raises(ValueError, match="num_cases"):
        write_synthetic_dataset(Path("unused"), 0, (32, 32))


def test_writes_readable_pngs_deterministically(tmp_path: Path) -> None:
    out = write_synthetic_dataset(tmp_path / "a", 3, (40, 56), seed=5)
    assert out == tmp_path / "a"
    names = sorted(p.name for p in (out / "images").iterdir())
    assert names == ["case_000.png", "case_001.png", "case_002.png"]
    assert sorted(p.name for p in (out / "masks").iterdir()) == names
    image = Image.open(out / "images" / "case_001.png")
    mask = np.asarray(Image.open(out / "masks" / "case_001.png"))
    assert image.mode == "L" and image.size == (56, 40)
    assert mask.shape == (40, 56) and set(np.unique(mask).tolist()) == {0, 1, 2, 3}
    again = write_synthetic_dataset(tmp_path / "b", 3, (40, 56), seed=5)
    other = write_synthetic_dataset(tmp_path / "c", 3, (40, 56), seed=6)
    for name in names:
        data = (out / "images" / name).read_bytes()
        assert (again / "images" / name).read_bytes() == data
        assert (other / "images" / name).read_bytes() != data
    # case i depends only on (seed, i), not on how many cases are written
    fewer = write_synthetic_dataset(tmp_path / "d", 2, (40, 56), seed=5)
    assert (fewer / "masks" / names[1]).read_bytes() == (out / "masks" / names[1]).read_bytes()


def test_writes_readable_nifti_volumes(tmp_path: Path) -> None:
    out = write_synthetic_dataset(tmp_path, 2, (16, 24, 32), num_classes=3, seed=1)
    image = nib.load(out / "images" / "case_000.nii.gz")
    mask = nib.load(out / "masks" / "case_000.nii.gz")
    assert image.shape == mask.shape == (16, 24, 32)
    assert image.get_data_dtype() == np.float32 and mask.get_data_dtype() == np.uint8
    np.testing.assert_allclose(nib.affines.voxel_sizes(image.affine), [1.0, 1.0, 2.0])
    np.testing.assert_array_equal(image.affine, mask.affine)
    labels = np.asarray(mask.dataobj)
    assert set(np.unique(labels).tolist()) == {0, 1, 2}
    expected_image, expected_mask = synthetic_case(np.random.default_rng([1, 0]), (16, 24, 32), 3)
    np.testing.assert_array_equal(np.asarray(image.dataobj), expected_image[0])
    np.testing.assert_array_equal(labels, expected_mask)
