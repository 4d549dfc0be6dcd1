"""Test-time flips (the mean of flip, predict, flip back over every subset of the axes) and
the run's largest-component post-processing as ``predict`` applies it."""

import json
import shutil
from itertools import combinations

import numpy as np
import pytest
import torch
from PIL import Image

from ldseg.cli import main
from ldseg.config import Config
from ldseg.errors import LDSegError
from ldseg.evaluation.postprocess import keep_largest_component
from ldseg.inference import Predictor
from ldseg.inference.sampling import flip_axes
from ldseg.runs import RunFolder
from tests.helpers import untrained_run, write_png

IMAGE = np.random.default_rng(4).random((32, 32), dtype=np.float32)


def test_tta_is_the_mean_of_flipped_predictions_flipped_back(tmp_path):
    torch.manual_seed(0)
    predictor = Predictor.from_run(untrained_run(tmp_path / "run"))
    by_hand = []
    for n in range(3):
        for axes in combinations((0, 1), n):
            flipped = np.flip(IMAGE, axes).copy() if axes else IMAGE
            probabilities = predictor.predict_array(flipped, seed=2).probabilities
            by_hand.append(np.flip(probabilities, [a + 1 for a in axes]) if axes else probabilities)
    assert len(by_hand) == 4
    tta = predictor.predict_array(IMAGE, seed=2, tta=True).probabilities
    np.testing.assert_allclose(tta, np.mean(by_hand, axis=0), atol=1e-6)
    assert np.abs(tta - by_hand[0]).max() > 1e-4  # the flips change something


def test_tta_needs_a_run_trained_with_flips(tmp_path, capsys):
    config = Config()
    config.data.size = [32, 32, 16]
    assert len(flip_axes(config, True)) == 8 and flip_axes(config, False) == [()]
    config.train.flips, config.data.augment = False, ["flip"]
    assert len(flip_axes(config, True)) == 8
    run = untrained_run(tmp_path / "run", train__flips=False)
    with pytest.raises(LDSegError, match=r"--tta: .* was trained without flips"):
        Predictor.from_run(run).predict_array(IMAGE, tta=True)
    image = write_png(tmp_path / "in" / "x.png", (IMAGE * 255).astype(np.uint8))
    args = ["predict", "--run", str(run), "--input", str(image), "--out", str(tmp_path / "out")]
    assert main([*args, "--tta"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "was trained without flips" in err
    assert not (tmp_path / "out").exists()


def test_predict_applies_the_recorded_decision_only(tiny_run, test_data, tmp_path):
    """tiny_run's masks hold several components of class 2: keeping class 2's largest changes
    them, and nothing else; without the file, or with --no-postprocess, masks are unchanged."""
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    RunFolder(run).postprocessing_path.unlink(missing_ok=True)
    image = np.asarray(Image.open(test_data / "images" / "case_000.png"))
    plain = Predictor.from_run(run).predict_array(image).mask
    RunFolder(run).write_postprocessing({"keep_largest_component": [2]})
    chosen = Predictor.from_run(run).predict_array(image).mask
    np.testing.assert_array_equal(chosen, keep_largest_component(plain, [2]))
    assert (chosen != plain).any()  # the decision did something
    np.testing.assert_array_equal(chosen == 1, plain == 1)  # class 1 untouched
    unchanged = Predictor.from_run(run, postprocess=False).predict_array(image).mask
    np.testing.assert_array_equal(unchanged, plain)
    assert Predictor.from_run(run, "last").keep_largest == []  # decided for the best weights
    RunFolder(run).write_postprocessing({"keep_largest_component": [2]}, "last")
    assert Predictor.from_run(run, "last").keep_largest == [2]
    assert Predictor.from_run(run).keep_largest == []
    RunFolder(run).write_postprocessing({"keep_largest_component": [0, 2]})  # 0: the foreground
    region = Predictor.from_run(run).predict_array(image).mask
    np.testing.assert_array_equal(region, keep_largest_component(plain, [0, 2]))
    RunFolder(run).write_postprocessing({"keep_largest_component": [2]})

    args = ["predict", "--run", str(run), "--input", str(test_data / "images")]
    assert main([*args, "--out", str(tmp_path / "on")]) == 0
    assert main([*args, "--out", str(tmp_path / "off"), "--no-postprocess"]) == 0
    on = json.loads((tmp_path / "on" / "prediction.json").read_text())
    off = json.loads((tmp_path / "off" / "prediction.json").read_text())
    assert on["keep_largest_component"] == [2] and off["keep_largest_component"] == []
    written = [np.asarray(Image.open(tmp_path / d / "case_000.png")) for d in ("on", "off")]
    np.testing.assert_array_equal(written[0], keep_largest_component(written[1], [2]))
    np.testing.assert_array_equal(written[1], plain)


def test_a_bad_decision_file_is_one_line(tmp_path):
    run = untrained_run(tmp_path / "run")
    RunFolder(run).write_postprocessing({"keep_largest_component": [0, 5]})
    with pytest.raises(LDSegError, match=r"postprocessing.json: keep_largest_component must list"):
        Predictor.from_run(run)
    (run / "postprocessing.json").write_text("{")
    with pytest.raises(LDSegError, match=r"postprocessing.json: unreadable"):
        Predictor.from_run(run)
