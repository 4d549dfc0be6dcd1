"""Training writes a complete run folder and lowers the loss."""

import csv
import json
import math

import pytest
import torch
from monai.utils import set_determinism

from ldseg.config import Config
from ldseg.data.cases import load_cases
from ldseg.data.layouts import find_pairs
from ldseg.errors import LDSegError
from ldseg.models import LDSeg, build_model
from ldseg.runs.weights import load_model_tensors, load_weights
from ldseg.training import train
from ldseg.training.validation import split_validation
from tests.helpers import tiny_config, tiny_dataset


def read_metrics(run):
    with open(run / "metrics.csv") as f:
        return list(csv.DictReader(f))


def fixed_loss(model, cases, repeats=8):
    """Mean loss over the cases at fixed timesteps and noise (eval mode: no dropout)."""
    model.eval()
    images = torch.stack([c["image"] for c in cases]).repeat(repeats, 1, 1, 1)
    masks = torch.stack([c["mask"] for c in cases]).repeat(repeats, 1, 1, 1)
    with torch.no_grad():
        return model(images, masks, generator=torch.Generator().manual_seed(0))


def test_short_training_lowers_loss_and_writes_run_folder(tmp_path):
    data = tiny_dataset(tmp_path / "data", num_cases=16, size=(32, 32))
    config = tiny_config(epochs=15, lr=1e-2)
    pairs = find_pairs(data)
    result = train(config, pairs, pairs[:4], tmp_path / "run", progress=False)
    run = result.run_dir
    names = ("config.json", "best.safetensors", "last.safetensors", "metrics.csv", "curves.png")
    for name in names:
        assert (run / name).is_file(), name
    rows = read_metrics(run)
    assert len(rows) == 15
    assert all(r["val_mean_dice"] != "" for r in rows)  # val_every=1
    saved = Config.load(run / "config.json")
    assert saved.model.in_channels == 1 and saved.model.num_classes == 3
    assert json.loads((run / "config.json").read_text())["data"]["size"] == [32, 32]

    cases, _, _ = load_cases(pairs, saved.data, 1, 3)
    set_determinism(seed=saved.train.seed)
    initial = fixed_loss(build_model(saved), cases)  # the trainer's initial weights
    trained = build_model(saved)
    tensors = load_weights(run / "last.safetensors")
    assert "ema.out.weight" in tensors  # the EMA denoiser
    load_model_tensors(trained, tensors, run, use_ema=False)
    final = fixed_loss(trained, cases)
    assert final.total < 0.8 * initial.total
    assert final.ce < 0.7 * initial.ce


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


def test_time_budget_stops_after_the_epoch_that_spends_it(tmp_path):
    data = tiny_dataset(tmp_path / "data", num_cases=4, size=(32, 32))
    pairs = find_pairs(data)
    config = tiny_config(epochs=50, max_minutes=1e-6)
    result = train(config, pairs, pairs[:2], tmp_path / "run", progress=False)
    rows = read_metrics(result.run_dir)
    assert result.epochs == len(rows) == 1 and rows[0]["val_mean_dice"] != ""  # validated


def test_bf16_training_lowers_the_loss_and_fp16_needs_a_gpu(tmp_path, monkeypatch):
    data = tiny_dataset(tmp_path / "data", num_cases=8, size=(32, 32))
    pairs = find_pairs(data)
    forward, autocast = LDSeg.forward, []
    device = "cuda" if torch.cuda.is_available() else "cpu"  # where the trainer runs

    def recording_forward(self, *args, **kwargs):
        autocast.append(torch.is_autocast_enabled(device) and torch.get_autocast_dtype(device))
        return forward(self, *args, **kwargs)

    monkeypatch.setattr(LDSeg, "forward", recording_forward)
    train(
        tiny_config(epochs=4, lr=1e-2, precision="bf16"), pairs, pairs[:2], tmp_path / "run", False
    )
    assert set(autocast) == {torch.bfloat16}
    losses = [float(r["loss"]) for r in read_metrics(tmp_path / "run")]
    assert losses[-1] < 0.9 * losses[0]
    weights = load_weights(tmp_path / "run" / "last.safetensors")
    assert all(torch.isfinite(w).all() and w.dtype != torch.bfloat16 for w in weights.values())
    if not torch.cuda.is_available():
        with pytest.raises(LDSegError, match="fp16 needs a CUDA GPU"):
            train(tiny_config(precision="fp16"), pairs, pairs[:2], tmp_path / "fp16", False)
        assert not (tmp_path / "fp16").exists()
    with pytest.raises(LDSegError, match=r"train\.precision must be one of"):
        tiny_config(precision="fp8").validate()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="fp16 with gradient scaling needs a GPU")
def test_fp16_training_with_gradient_scaling_on_a_gpu(tmp_path):
    data = tiny_dataset(tmp_path / "data", num_cases=8, size=(32, 32))
    pairs = find_pairs(data)
    train(
        tiny_config(epochs=4, lr=1e-2, precision="fp16"), pairs, pairs[:2], tmp_path / "run", False
    )
    losses = [float(r["loss"]) for r in read_metrics(tmp_path / "run")]
    assert all(math.isfinite(x) for x in losses) and losses[-1] < 0.9 * losses[0]
    weights = load_weights(tmp_path / "run" / "last.safetensors")
    assert all(torch.isfinite(w).all() and w.dtype != torch.float16 for w in weights.values())
