"""``ldseg train --tensorboard``: scalars per epoch and validation overlays in RUN/tensorboard,
training unchanged, metrics.csv and curves.png kept; a one-line error without the package."""

import importlib.util
import json

import pytest
import torch

from ldseg import cli
from ldseg.data.layouts import find_pairs
from ldseg.runs.weights import load_weights
from ldseg.training import train
from tests.helpers import tiny_config, tiny_dataset

pytest.importorskip("tensorboard")


def test_scalars_and_overlays_are_logged(tmp_path, one_thread):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    pairs = find_pairs(tiny_dataset(tmp_path / "data", num_cases=6, size=(32, 32)))
    config = tiny_config(epochs=2)
    config.data.class_names = ["background", "disc", "ring"]
    logged = train(config, pairs, None, tmp_path / "logged", False, tensorboard=True).run_dir
    plain = train(tiny_config(epochs=2), pairs, None, tmp_path / "plain", False).run_dir
    assert (logged / "metrics.csv").is_file() and (logged / "curves.png").is_file()
    assert not (plain / "tensorboard").exists()
    events = EventAccumulator(str(logged / "tensorboard")).Reload()
    tags = events.Tags()
    expected = {"train/loss", "train/ce", "train/dice_loss", "train/noise_mse", "train/lr"}
    expected |= {"val/mean_dice", "val/dice_background", "val/dice_disc", "val/dice_ring"}
    assert expected <= set(tags["scalars"])
    assert [e.step for e in events.Scalars("train/loss")] == [1, 2]
    assert [e.step for e in events.Images("val/overlays")] == [1, 2]
    lrs = [e.value for e in events.Scalars("train/lr")]
    assert lrs == pytest.approx([config.train.lr, config.train.lr * config.train.lr_decay])
    # logging changes nothing of the training
    ours, theirs = (
        load_weights(logged / "last.safetensors"),
        load_weights(plain / "last.safetensors"),
    )
    assert all(torch.equal(ours[name], theirs[name]) for name in theirs)


def test_missing_package_is_one_line_naming_the_extra(tmp_path, monkeypatch, capsys):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "tensorboard" else find_spec(name, *a),
    )
    data = tiny_dataset(tmp_path / "data", num_cases=4, size=(32, 32))
    preset = tmp_path / "tiny.json"
    preset.write_text(json.dumps(tiny_config(epochs=1).to_dict()))
    args = ["train", "--data", str(data), "--config", str(preset), "--out", str(tmp_path / "run")]
    assert cli.main([*args, "--tensorboard", "--quiet"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    needs = "--tensorboard needs the tensorboard package: pip install 'ldseg[tensorboard]'"
    assert err == [f"ldseg: error: {needs}"]
    assert not (tmp_path / "run").exists()
