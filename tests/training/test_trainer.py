"""Training writes a complete run folder and lowers the loss."""

import csv
import json

import pytest
import torch

from ldseg.config import Config
from ldseg.data.io import find_pairs
from ldseg.errors import LDSegError
from ldseg.training.checkpoint import load_weights
from ldseg.training.trainer import split_validation, train
from tests.helpers import tiny_config, tiny_dataset


def read_metrics(run):
    with open(run / "metrics.csv") as f:
        return list(csv.DictReader(f))


def test_short_training_lowers_loss_and_writes_run_folder(tmp_path):
    data = tiny_dataset(tmp_path / "data", num_cases=8, size=(32, 32))
    config = tiny_config(epochs=10, lr=3e-3)
    result = train(config, find_pairs(data), None, tmp_path / "run", progress=False)
    run = result.run_dir
    for name in (
        "config.json",
        "best.safetensors",
        "last.safetensors",
        "metrics.csv",
        "curves.png",
    ):
        assert (run / name).is_file(), name
    rows = read_metrics(run)
    assert len(rows) == 10
    losses = [float(r["loss"]) for r in rows]
    assert losses[-1] < 0.85 * losses[0]
    assert all(r["val_mean_dice"] != "" for r in rows)  # val_every=1
    saved = Config.load(run / "config.json")
    assert saved.model.in_channels == 1 and saved.model.num_classes == 3
    tensors = load_weights(run / "best.safetensors")
    assert any(k.startswith("ema_denoiser.") for k in tensors)
    assert any(k.startswith("model.label_encoder.") for k in tensors)
    assert json.loads((run / "config.json").read_text())["data"]["size"] == [32, 32]


def test_training_is_reproducible_with_a_seed(tmp_path):
    data = tiny_dataset(tmp_path / "data", num_cases=4, size=(32, 32))
    pairs = find_pairs(data)
    runs = [
        train(tiny_config(epochs=1), pairs, pairs[:2], tmp_path / f"r{i}", False) for i in (0, 1)
    ]
    a, b = (load_weights(r.run_dir / "last.safetensors") for r in runs)
    for key in a:
        torch.testing.assert_close(a[key], b[key])


def test_refuses_to_overwrite_a_run(tmp_path):
    data = tiny_dataset(tmp_path / "data", num_cases=4, size=(32, 32))
    pairs = find_pairs(data)
    train(tiny_config(epochs=1), pairs, pairs[:1], tmp_path / "run", False)
    before = (tmp_path / "run" / "best.safetensors").read_bytes()
    with pytest.raises(LDSegError, match="already holds a run"):
        train(tiny_config(epochs=1), pairs, pairs[:1], tmp_path / "run", False)
    assert (tmp_path / "run" / "best.safetensors").read_bytes() == before


def test_declared_classes_are_checked(tmp_path):
    data = tiny_dataset(tmp_path / "data", num_cases=4, size=(32, 32), num_classes=4)
    with pytest.raises(LDSegError, match=r"outside the declared classes 0\.\.1"):
        train(tiny_config(num_classes=2), find_pairs(data), None, tmp_path / "run", False)
    assert not (tmp_path / "run" / "best.safetensors").exists()


def test_3d_training_with_anisotropic_latent(tmp_path):
    data = tiny_dataset(tmp_path / "data", num_cases=3, size=(32, 32, 8), num_classes=3)
    config = tiny_config(size=(32, 32, 8), epochs=1)
    config.model.latent_factor = [16, 16, 4]
    config.train.batch_size = 2
    result = train(config, find_pairs(data), None, tmp_path / "run", progress=False)
    assert (result.run_dir / "best.safetensors").is_file()


def test_split_validation_is_seeded_and_disjoint():
    pairs = list(range(20))
    train_a, val_a = split_validation(pairs, 0.1, seed=0)
    _, val_b = split_validation(pairs, 0.1, seed=0)
    assert val_a == val_b and len(val_a) == 2
    assert sorted(train_a + val_a) == pairs
    assert split_validation([1], 0.1, 0) == ([1], [])
