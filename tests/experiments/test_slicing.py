"""Experiments on a slice-wise run (``data.slicing: 2d``) segment and score whole volumes, as
``predict`` and ``evaluate`` do."""

import json

import numpy as np

from ldseg.cli import main
from ldseg.data.layouts import find_pairs
from ldseg.evaluation.metrics import dice_iou, dice_summary
from ldseg.experiments.common import preprocess_cases, run_cases, segment
from ldseg.experiments.diagnose import diagnose
from ldseg.inference import Predictor


def test_segment_gives_each_volume_the_mask_predict_gives_it(slicing_run):
    predictor = Predictor.from_run(slicing_run)
    cases = run_cases(predictor, slicing_run.parent / "data")
    masks = segment(predictor, preprocess_cases(predictor, cases), cases, seed=3)
    assert len(masks) == 3
    for mask, case in zip(masks, cases, strict=True):
        alone = predictor.predict_array(case.image, seed=3, spacing=case.spacing).mask
        assert mask.shape == case.mask.shape == (24, 20, 6)
        np.testing.assert_array_equal(mask, alone)


def test_steps_and_noise_experiments_score_volumes(slicing_run, tmp_path):
    data = slicing_run.parent / "data"
    args = ["--run", str(slicing_run), "--data", str(data)]
    assert main(["experiment", "steps", *args, "--steps", "2", "--repeats", "1",
                 "--out", str(tmp_path / "steps")]) == 0  # fmt: skip
    steps = json.loads((tmp_path / "steps" / "results.json").read_text())["results"]
    predictor = Predictor.from_run(slicing_run)
    cases = run_cases(predictor, data)
    scores = [
        dice_iou(predictor.predict_array(c.image, 2, spacing=c.spacing).mask, c.mask, 3)[0]
        for c in cases
    ]
    assert steps["num_cases"] == 3
    np.testing.assert_allclose(steps["rows"][0]["mean_dice"], dice_summary(scores)["mean_dice"])
    assert main(["experiment", "noise", *args, "--sigmas", "0,0.2",
                 "--out", str(tmp_path / "noise")]) == 0  # fmt: skip
    noise = json.loads((tmp_path / "noise" / "results.json").read_text())["results"]
    assert noise["num_cases"] == 3


def test_diagnose_a_slice_wise_run_on_the_slices_that_hold_foreground(slicing_run):
    predictor = Predictor.from_run(slicing_run)
    result = diagnose(predictor, find_pairs(slicing_run.parent / "data"), steps=(1, 2))
    assert set(result["routes"]) == {"autoencoder", "K=1", "K=2", "t=T map"}
    assert result["num_cases"] == 3
