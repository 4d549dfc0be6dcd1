"""Exported TorchScript and ONNX files reproduce the Predictor's masks and probabilities."""

import dataclasses

import numpy as np
import pytest
import torch

from ldseg.cli import main
from ldseg.config import Config, DataConfig, ModelConfig
from ldseg.data.layouts import find_pairs
from ldseg.data.readers import read_image
from ldseg.errors import LDSegError, RunFolderError
from ldseg.inference import Predictor
from ldseg.inference import export as export_module
from ldseg.inference.export import ExportedSegmenter, export_run, run_exported
from ldseg.models import build_model
from tests.helpers import tiny_config, tiny_dataset

STEPS = 3


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> np.ndarray:
    """Four synthetic images at the tiny run's training size, as a raw float32 batch."""
    data = tiny_dataset(tmp_path_factory.mktemp("export") / "data", 4, size=(32, 32), seed=3)
    return np.stack([read_image(p.image)[0] for p in find_pairs(data)])


@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
def test_export_reproduces_predictor_masks(tiny_run, images, tmp_path, capsys, fmt):
    out = tmp_path / f"model.{fmt}"
    args = ["export", "--run", str(tiny_run), "--format", fmt, "--steps", str(STEPS)]
    assert main([*args, "--out", str(out)]) == 0
    assert "largest probability difference" in capsys.readouterr().out
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # one file, no temporaries
    mask, probs = run_exported(out, fmt, images)
    assert mask.shape == (4, 32, 32) and probs.shape == (4, 3, 32, 32)
    predictor = Predictor.from_run(tiny_run)
    assert len(np.unique(mask)) > 1  # the masks depend on the image
    for image, exported_mask, exported_probs in zip(images, mask, probs, strict=True):
        expected = predictor.predict_array(image, steps=STEPS, sampler="ddim", seed=0)
        np.testing.assert_array_equal(exported_mask, expected.mask)
        np.testing.assert_allclose(exported_probs, expected.probabilities, atol=1e-4, rtol=0)
        # The baked-in noise and K matter: another seed or K gives other probabilities.
        other_seed = predictor.predict_array(image, steps=STEPS, sampler="ddim", seed=1)
        other_steps = predictor.predict_array(image, steps=2, sampler="ddim", seed=0)
        for other in (other_seed, other_steps):
            assert np.abs(other.probabilities - exported_probs).max() > 1e-3


def test_export_3d_and_a_deterministic_baseline(tmp_path):
    torch.manual_seed(0)
    config = tiny_config(size=(32, 32, 8))
    config.model.in_channels, config.model.latent_factor = 1, [16, 16, 4]
    config.data.intensity = "percentile"
    model = build_model(config)
    torch.nn.init.normal_(model.denoiser.out.weight, std=0.1)  # a denoiser that is not zero
    baseline = Config(
        model=ModelConfig(name="resunet", in_channels=2, num_classes=2, channels=[4, 8, 8]),
        data=DataConfig(size=[16, 24], intensity="zscore"),
    )
    for predictor, shape, fmt in [
        (Predictor(model, config), (2, 1, 32, 32, 8), "onnx"),
        (Predictor(build_model(baseline), baseline), (2, 2, 16, 24), "torchscript"),
    ]:
        images = np.random.default_rng(0).random(shape, dtype=np.float32) * 100
        export_run(predictor, fmt, tmp_path / f"model.{fmt}", steps=2)
        mask, probs = run_exported(tmp_path / f"model.{fmt}", fmt, images)
        for image, exported_mask, exported_probs in zip(images, mask, probs, strict=True):
            expected = predictor.predict_array(image, steps=2, sampler="ddim", seed=0)
            np.testing.assert_array_equal(exported_mask, expected.mask)
            np.testing.assert_allclose(exported_probs, expected.probabilities, atol=1e-4)


def test_unexportable_runs_and_bad_requests_fail_cleanly(tiny_run, tmp_path, capsys, monkeypatch):
    predictor = Predictor.from_run(tiny_run)
    pixel = dataclasses.replace(predictor.config, model=ModelConfig(name="pixel-diffusion"))
    pixel.model.in_channels, pixel.model.num_classes = 1, 3
    with pytest.raises(RunFolderError, match="'pixel-diffusion' model cannot be exported"):
        ExportedSegmenter(Predictor(build_model(pixel), pixel), run="runs/pixel")
    windows = dataclasses.replace(
        predictor.config, data=dataclasses.replace(predictor.config.data, resize=False)
    )
    with pytest.raises(RunFolderError, match="sliding windows"):
        ExportedSegmenter(Predictor(predictor.model, windows))
    out = tmp_path / "model.onnx"
    monkeypatch.setattr(export_module, "TOLERANCE", -1.0)  # every export now fails its check
    with pytest.raises(LDSegError, match="differs from PyTorch"):
        export_run(predictor, "torchscript", out)
    assert list(tmp_path.iterdir()) == []  # nothing partial or unchecked is left
    args = ["export", "--run", str(tiny_run), "--format", "onnx", "--out", str(out)]
    assert main([*args, "--steps", "5000"]) == 1  # more than T (0 is refused by argparse)
    assert main(["export", "--run", str(tmp_path), "--format", "onnx", "--out", str(out)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and all(line.startswith("ldseg: error: ") for line in err)
    assert "sampling steps" in err[0] and "config.json: not found" in err[1]
