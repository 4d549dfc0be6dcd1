"""``ldseg experiment diagnose`` against an independent recomputation on the tiny run."""

import json

import numpy as np
import pytest
import torch

from ldseg.cli import main
from ldseg.data.layouts import find_pairs
from ldseg.data.readers import read_image, read_mask
from ldseg.data.transforms import resize_mask
from ldseg.evaluation.metrics import dice_iou
from ldseg.experiments.common import CaseSelection
from ldseg.experiments.diagnose import run_diagnose, window_around_foreground
from ldseg.experiments.results import ResultsFolder
from ldseg.inference import Predictor


def mean_foreground(per_case):
    return float(np.nanmean(np.array(per_case), axis=0)[1:].mean())


@torch.no_grad()
def test_diagnose_matches_a_recomputation(tiny_run, test_data, tmp_path):
    result = run_diagnose(tiny_run, CaseSelection(test_data), ResultsFolder(tmp_path), [1, 2, 50])
    predictor = Predictor.from_run(tiny_run)
    model = predictor.model
    auto, sampled, t_map, correlations = [], [], [], []
    for pair in find_pairs(test_data):
        image = predictor.adapter.array_inputs(read_image(pair.image)[0]).images[0]
        mask = resize_mask(torch.as_tensor(read_mask(pair.mask))[None], image.shape[1:])
        truth = mask[0].numpy()
        z0 = model.label_encoder(mask[None])
        z_i, stage_outputs = model.image_encoder.features(image[None])
        skips = stage_outputs if model.label_decoder.image_skips else None
        auto.append(dice_iou(model.label_decoder(z0, skips).argmax(1)[0].numpy(), truth, 3)[0])
        probs, _ = predictor.pipeline(steps=2)(image[None], seeds=[0])  # predict's own path
        sampled.append(dice_iou(probs.argmax(1)[0].numpy(), truth, 3)[0])
        eps = model.denoiser(torch.zeros_like(z0), z_i, torch.tensor([1000]))
        x0 = -eps  # eps prediction at a zero latent: x0 = -sqrt(1 - abar_T) eps / sqrt(abar_T)
        x0 = (x0 - x0.mean()) / (x0.var(unbiased=False) + 1e-5).sqrt()
        t_map.append(dice_iou(model.label_decoder(x0, skips).argmax(1)[0].numpy(), truth, 3)[0])
        latents = []
        generator = torch.Generator().manual_seed(0)
        noise = torch.randn((1, *model.noise_shape(image.shape[1:])), generator=generator)
        model.sample(image[None], model.make_sampler("ddim", 2), noise=noise, trajectory=latents)
        correlations.append(np.corrcoef(latents[-1].flatten(), z0.flatten())[0, 1])
    routes = result["routes"]
    assert list(routes) == ["autoencoder", "K=1", "K=2", "K=50", "t=T map"]
    assert routes["autoencoder"]["mean_dice"] == pytest.approx(mean_foreground(auto))
    assert routes["K=2"]["mean_dice"] == pytest.approx(mean_foreground(sampled))
    assert routes["t=T map"]["mean_dice"] == pytest.approx(mean_foreground(t_map), abs=1e-6)
    assert result["latent_correlation"] == pytest.approx(np.mean(correlations), abs=1e-5)
    assert result["num_cases"] == 4 and "limit" in result
    record = json.loads((tmp_path / "results.json").read_text())
    assert record["experiment"] == "diagnose" and record["figures"] == ["diagnose.png"]


def test_diagnose_cli(tiny_run, test_data, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(
        [
            *("experiment", "diagnose", "--run", str(tiny_run), "--data", str(test_data)),
            *("--out", str(out), "--steps", "1,2", "--max-cases", "2"),
        ]
    )
    assert code == 0 and (out / "diagnose.png").is_file()
    assert "latent correlation" in capsys.readouterr().out
    results = json.loads((out / "results.json").read_text())["results"]
    assert list(results["routes"]) == ["autoencoder", "K=1", "K=2", "t=T map"]


def test_window_around_foreground_centres_and_pads():
    image = torch.arange(100.0).reshape(1, 10, 10)
    mask = torch.zeros(1, 10, 10, dtype=torch.long)
    mask[0, 7:9, 7:9] = 1
    window, window_mask = window_around_foreground(image, mask, (4, 4))
    assert window.shape == (1, 4, 4) and int(window_mask.sum()) == 4
    assert float(window[0, 0, 0]) == 66.0  # rows and columns 6..9: the foreground's centre
    small, _ = window_around_foreground(image[:, :2], mask[:, :2], (4, 4))
    assert small.shape == (1, 4, 4) and float(small[0, 0, 0]) == 0.0  # zero-padded
