"""Each experiment on a tiny run: numbers computed from the data, figures and results.json."""

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from ldseg.cli import main
from ldseg.data.readers import read_image, read_mask
from ldseg.evaluation.metrics import dice_iou
from ldseg.experiments.common import CaseSelection
from ldseg.experiments.evaluate import run_evaluate
from ldseg.experiments.noise import run_noise
from ldseg.experiments.results import ResultsFolder
from ldseg.experiments.steps import run_steps, steps_gap
from ldseg.experiments.timing import parse_shape, run_timing
from ldseg.experiments.uncertainty import calibration, roc_curve, run_uncertainty
from ldseg.inference import Predictor, SamplingOptions


def foreground_dice(run, data, steps):
    """Mean foreground Dice of one-image-at-a-time predictions, as the experiments aggregate."""
    predictor = Predictor.from_run(run)
    scores = []
    for path in sorted((data / "images").iterdir()):
        mask = predictor.predict_array(read_image(path)[0], steps).mask
        scores.append(dice_iou(mask, read_mask(data / "masks" / path.name), 3)[0])
    per_class = np.nanmean(np.array(scores), axis=0)
    return float(per_class[1:].mean())


def check_results(out, experiment, figures):
    record = json.loads((out / "results.json").read_text())
    assert record["experiment"] == experiment and record["figures"] == figures
    assert record["versions"]["torch"] and record["machine"]["cpu_count"] >= 1
    for name in (f for f in figures if f.endswith(".png")):
        with Image.open(out / name) as picture:
            assert picture.format == "PNG" and picture.size[0] > 300
    return record["results"]


def test_steps(tiny_run, test_data, tmp_path):
    out = ResultsFolder(tmp_path, "x")
    results = run_steps(tiny_run, CaseSelection(test_data), out, ks=[1, 2, 50], repeats=2)
    results = check_results(tmp_path, "steps", ["steps.png"])
    rows = results["rows"]
    assert [row["steps"] for row in rows] == [1, 2, 50] and results["num_cases"] == 4
    for row in rows:
        assert row["mean_dice"] == pytest.approx(foreground_dice(tiny_run, test_data, row["steps"]))
        assert len(row["times_s"]) == 2 and row["seconds_per_image"] > 0
    assert rows[2]["seconds_per_image"] > rows[0]["seconds_per_image"]  # 50 denoiser calls vs 1
    assert results["dice_k2_minus_k50"] == pytest.approx(
        rows[1]["mean_dice"] - rows[2]["mean_dice"]
    )
    assert steps_gap(rows[:2]) is None


def test_noise_two_runs(tiny_run, test_data, tmp_path):
    other = tmp_path / "other-run"
    shutil.copytree(tiny_run, other)
    out = ResultsFolder(tmp_path / "out")
    sampling = SamplingOptions(steps=2)
    results = run_noise([tiny_run, other], CaseSelection(test_data), out, [0.0, 2.0], sampling)
    results = check_results(tmp_path / "out", "noise", ["noise.png"])
    curves = results["curves"]
    assert curves[0]["label"].endswith("/run") and curves[1]["label"] == "other-run"
    assert curves[0]["rows"][0]["mean_dice"] == pytest.approx(
        foreground_dice(tiny_run, test_data, 2)
    )
    dice = [row["mean_dice"] for row in curves[0]["rows"]]
    assert dice[0] != dice[1]  # heavy noise changes the segmentation
    assert curves[1]["rows"] == curves[0]["rows"]  # same weights, same noise: same curve


def test_uncertainty(tiny_run, test_data, tmp_path):
    cases, sampling = CaseSelection(test_data, max_cases=3), SamplingOptions(samples=3)
    run_uncertainty(tiny_run, cases, ResultsFolder(tmp_path), sampling, num_examples=2)
    results = check_results(
        tmp_path, "uncertainty", ["uncertainty_maps.png", "uncertainty_roc.png"]
    )
    assert results["num_cases"] == 3 and results["samples"] == 3
    assert 0 <= results["auroc_sd_for_errors"] <= 1 and 0 <= results["ece"] <= 1
    assert 0 < results["error_rate"] < 1 and results["mean_sd_wrong"] > 0
    counts = sum(row["count"] for row in results["calibration_bins"])
    assert counts == 3 * 40 * 36


def test_roc_and_calibration_values():
    labels = np.array([0, 0, 1, 1], bool)
    assert roc_curve(np.array([0.1, 0.2, 0.3, 0.4]), labels)[2] == 1.0
    assert roc_curve(np.array([0.4, 0.3, 0.2, 0.1]), labels)[2] == 0.0
    assert roc_curve(np.zeros(4), labels)[2] == 0.5  # ties count half
    rng = np.random.default_rng(0)
    scores, positive = rng.integers(0, 5, 200).astype(float), rng.random(200) < 0.3
    pairs = scores[positive][:, None] - scores[~positive][None]
    expected = ((pairs > 0) + 0.5 * (pairs == 0)).mean()  # Mann-Whitney U / (n1 n0)
    assert roc_curve(scores, positive)[2] == pytest.approx(expected)
    assert np.isnan(roc_curve(np.ones(3), np.ones(3, bool))[2])
    ece, table = calibration(np.array([0.8] * 5), np.array([1, 1, 1, 1, 0], bool))
    assert ece == pytest.approx(0.0) and table[0]["count"] == 5
    assert calibration(np.ones(4), np.array([1, 0, 1, 0], bool))[0] == pytest.approx(0.5)


def test_evaluate(tiny_run, test_data, tmp_path):
    out = ResultsFolder(tmp_path, "ldseg experiment evaluate")
    run_evaluate(tiny_run, CaseSelection(test_data), out, SamplingOptions(steps=2))
    results = check_results(tmp_path, "evaluate", ["report.html"])
    assert results["mean_dice"] == pytest.approx(foreground_dice(tiny_run, test_data, 2))
    assert results["distance_unit"] == "pixel" and results["mean_hd95"] > 0
    assert len(list((tmp_path / "predictions").glob("*.png"))) == 4
    assert (tmp_path / "evaluation.csv").read_text().count("\n") == 5
    html = (tmp_path / "report.html").read_text()
    assert html.count("<img") >= 1 and "ldseg experiment evaluate" in html


def test_timing_in_fresh_processes(tiny_run, tmp_path):
    out, sampling = ResultsFolder(tmp_path), SamplingOptions(steps=2)
    results = run_timing([tiny_run], out, sizes=["32", "64x32"], sampling=sampling, repeats=2)
    results = check_results(tmp_path, "timing", ["timing.png"])
    rows = results["curves"][0]["rows"]
    assert [row["shape"] for row in rows] == [[32, 32], [64, 32]]
    for row in rows:
        assert row["median_s"] > 0 and len(row["times_s"]) == 2
        assert row["peak_rss_mib"] > 50 and 0 <= row["inference_mib"] < row["peak_rss_mib"]
    assert parse_shape("128x128x64", 3) == (128, 128, 64) and parse_shape("8", 3) == (8, 8, 8)


def test_cli_experiment_records_the_command(tiny_run, test_data, tmp_path, capsys):
    out = tmp_path / "steps"
    args = ["experiment", "steps", "--run", str(tiny_run), "--data", str(test_data)]
    args += ["--steps", "1,2", "--repeats", "1", "--max-cases", "2", "--out", str(out)]
    assert main(args) == 0
    record = json.loads((out / "results.json").read_text())
    assert record["command"].startswith("ldseg experiment steps --run ")
    assert record["command"].endswith("--out " + str(out))
    assert [row["steps"] for row in record["results"]["rows"]] == [1, 2]
    assert record["results"]["num_cases"] == 2 and "results.json" in capsys.readouterr().out
    bad = ["experiment", "timing", "--run", str(tiny_run), "--sizes", "30", "--out", str(out)]
    assert main(bad) == 1
    assert "divide" in capsys.readouterr().err
