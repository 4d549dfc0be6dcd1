"""Training data held in memory or read from disk when used (``data.cache``): the same tensors,
the same training, bit for bit, with random crops and with resizing; ``auto`` picks by size."""

import csv

import pytest
import torch

from ldseg.data.cases import load_cases
from ldseg.data.layouts import find_pairs
from ldseg.data.lazy import LazyCases, memory_estimate
from ldseg.runs.weights import load_weights
from ldseg.training import samples, train
from tests.helpers import tiny_config, tiny_dataset


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("cache")
    return (
        find_pairs(tiny_dataset(root / "train", num_cases=6, size=(48, 40))),
        find_pairs(tiny_dataset(root / "val", num_cases=2, size=(48, 40), seed=1)),
    )


def metrics(run) -> list[dict]:
    with open(run / "metrics.csv") as f:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(f)]


@pytest.mark.parametrize("resize", [False, True], ids=["crops", "resize"])
def test_lazy_training_equals_in_memory_training(data, tmp_path, one_thread, resize):
    runs = {}
    for cache in ("memory", "lazy"):
        config = tiny_config(size=(32, 32), epochs=2)
        config.data.resize, config.data.cache = resize, cache
        config.data.augment = ["affine", "intensity"]
        runs[cache] = train(config, *data, tmp_path / cache, progress=False).run_dir
    assert metrics(runs["memory"]) == metrics(runs["lazy"])
    memory, lazy = (load_weights(run / "last.safetensors") for run in runs.values())
    assert memory.keys() == lazy.keys()
    for name, tensor in memory.items():
        assert torch.equal(tensor, lazy[name]), name


def test_lazy_cases_are_load_cases_tensors(data):
    config = tiny_config(size=(32, 32)).data
    config.resize = False
    held, channels, classes = load_cases(data[0], config, progress=False)
    lazy = LazyCases(data[0], config, channels, classes)
    assert len(lazy) == len(held) and len(lazy[1:3]) == 2
    for one, other in zip(held, lazy, strict=True):
        assert one["stem"] == other["stem"]
        assert torch.equal(one["image"], other["image"]) and torch.equal(one["mask"], other["mask"])


def test_auto_reads_lazily_when_the_data_would_crowd_memory(data, monkeypatch, capsys):
    config = tiny_config(size=(32, 32))
    need = memory_estimate([*data[0], *data[1]], config.data)
    assert need == (32 * 32 * 4 + 32 * 32 * 8) * 8  # float32 image, int64 mask; 8 cases
    monkeypatch.setattr(samples, "available_memory", lambda: 4 * need)
    train_cases, val_cases = samples.load_samples(config, *data, show=True)
    assert isinstance(train_cases, list) and isinstance(val_cases, list)
    monkeypatch.setattr(samples, "available_memory", lambda: 4 * need - 1)
    train_cases, val_cases = samples.load_samples(config, *data, show=True)
    assert isinstance(train_cases, LazyCases) and len(val_cases) == 2
    assert "reading cases from disk when used" in capsys.readouterr().err
    config.data.cache = "memory"  # the override
    assert isinstance(samples.load_samples(config, *data, show=False)[0], list)
