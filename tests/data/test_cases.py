"""The one data path: pairs read with a run's data settings, checked, brought to the network's
grid; the same reading for training tensors, test cases and truth masks."""

import numpy as np
import pytest
import torch

from ldseg.config import DataConfig
from ldseg.data.cases import dataset_cases, load_cases, read_cases, read_truth
from ldseg.data.layouts import discover
from ldseg.data.transforms import prepare_image
from ldseg.errors import DataError
from tests.helpers import write_png

RNG = np.random.default_rng(0)


def dataset(root, masks: dict[str, np.ndarray], rgb: tuple[str, ...] = ()):
    for stem, mask in masks.items():
        shape = (*mask.shape, 3) if stem in rgb else mask.shape
        write_png(root / "images" / f"{stem}.png", RNG.integers(0, 256, shape, dtype=np.uint8))
        write_png(root / "masks" / f"{stem}.png", mask.astype(np.uint8))
    return root


def test_truth_masks_are_read_with_binarize_and_class_mapping(tmp_path):
    mask = np.array([[0, 1, 2, 3]] * 4)
    dataset(tmp_path, {"a": mask})
    path = tmp_path / "masks" / "a.png"
    np.testing.assert_array_equal(read_truth(path)[0], mask)
    mapped, meta = read_truth(path, DataConfig(size=[4, 4], class_mapping=[0, 1, 0, 2]))
    np.testing.assert_array_equal(mapped[0], [0, 1, 0, 2])
    assert meta["kind"] == "raster"
    binary, _ = read_truth(path, DataConfig(size=[4, 4], binarize=1.5))
    np.testing.assert_array_equal(binary[0], [0, 0, 1, 1])


def test_read_cases_checks_channels_and_labels(tmp_path):
    pairs = discover(
        dataset(tmp_path / "set", {"a": np.ones((8, 8)), "b": np.full((8, 8), 2)})
    ).pairs()
    data = DataConfig(size=[8, 8])
    cases = list(read_cases(pairs, data))
    assert [c.stem for c in cases] == ["a", "b"] and cases[1].mask.max() == 2
    assert cases[0].image.shape == (1, 8, 8) and cases[0].spacing == (1.0, 1.0)
    with pytest.raises(DataError, match=r"b\.png: label values \[2\] outside the declared classes"):
        list(read_cases(pairs, data, num_classes=2))
    mixed = discover(
        dataset(tmp_path / "mixed", {"a": np.ones((8, 8)), "b": np.ones((8, 8))}, ("b",))
    )
    with pytest.raises(DataError, match=r"b\.png: has 3 channels, a\.png has 1"):
        list(read_cases(mixed.pairs(), data))


def test_training_tensors_are_what_prediction_sees(tmp_path):
    pairs = discover(dataset(tmp_path, {"a": np.ones((12, 10))})).pairs()
    data = DataConfig(size=[8, 8], intensity="zscore")
    samples, channels, classes = load_cases(pairs, data, progress=False)
    assert channels == 1 and classes == 2 and samples[0]["mask"].shape == (1, 8, 8)
    [case] = read_cases(pairs, data)
    torch.testing.assert_close(samples[0]["image"], prepare_image(case.image, data, 1))


def test_dataset_cases_take_a_split_of_any_layout(tmp_path):
    dataset(tmp_path / "train", {"t0": np.ones((8, 8))})
    dataset(tmp_path / "val", {"v0": np.ones((8, 8)), "v1": np.zeros((8, 8))})
    data = DataConfig(size=[8, 8])
    assert [c.stem for c in dataset_cases(tmp_path, data)] == ["v0", "v1"]  # "val" by default
    assert [c.stem for c in dataset_cases(tmp_path, data, "train")] == ["t0"]
    assert [c.stem for c in dataset_cases(tmp_path / "val", data, "test", max_cases=1)] == ["v0"]
    with pytest.raises(DataError, match="no image/mask pairs in split 'test'"):
        dataset_cases(tmp_path, data, "test")
