"""Experiments on a slice-wise run (``data.slicing: 2d``) segment and score whole volumes, as
``predict`` and ``evaluate`` do."""

import json

import numpy as np

from ldseg.cli import main
from ldseg.data.layouts import find_pairs
from ldseg.evaluation.metrics import dice_iou, dice_summary
from ldseg.experiments.common import CaseSelection
from ldseg.experiments.diagnose import diagnose
from ldseg.inference import Predictor, SamplingOptions
from ldseg.inference.scoring import segment_and_score


def test_segment_and_score_gives_each_volume_the_mask_predict_gives_it(slicing_run):
    predictor = Predictor.from_run(slicing_run)
    cases = CaseSelection(slicing_run.parent / "data").cases(predictor.config.data)
    inputs = map(predictor.adapter.case_inputs, cases)
    scored = segment_and_score(predictor, inputs, SamplingOptions(seed=3), keep_masks=True)
    assert len(scored.masks) == 3
    for mask, case in zip(scored.masks, cases, strict=True):
        alone = predictor.predict_array(case.image, seed=3, spacing=case.spacing).mask
        assert mask.shape == case.mask.shape == (24, 20, 6)
        np.testing.assert_array_equal(mask, alone)


def test_steps_and_noise_experiments_score_volumes(slicing_run, tmp_path):
    data = slicing_run.parent / "data"
    args = ["--run", str(slicing_run), "--data", str(data)]
    steps = ["experiment", "steps", *args, "--steps", "2", "--repeats", "1"]
    assert main([*steps, "--out", str(tmp_path / "steps")]) == 0
    results = json.loads((tmp_path / "steps" / "results.json").read_text())["results"]
    predictor = Predictor.from_run(slicing_run)
    cases = CaseSelection(data).cases(predictor.config.data)
    scores = [
        dice_iou(predictor.predict_array(c.image, 2, spacing=c.spacing).mask, c.mask, 3)[0]
        for c in cases
    ]
    assert results["num_cases"] == 3
    np.testing.assert_allclose(results["rows"][0]["mean_dice"], dice_summary(scores)["mean_dice"])
    noise = ["experiment", "noise", *args, "--sigmas", "0,0.2"]
    assert main([*noise, "--out", str(tmp_path / "noise")]) == 0
    results = json.loads((tmp_path / "noise" / "results.json").read_text())["results"]
    assert results["num_cases"] == 3


def test_diagnose_a_slice_wise_run_on_the_slices_that_hold_foreground(slicing_run):
    predictor = Predictor.from_run(slicing_run)
    result = diagnose(predictor, find_pairs(slicing_run.parent / "data"), ks=(1, 2))
    assert set(result["routes"]) == {"autoencoder", "K=1", "K=2", "t=T map"}
    assert result["num_cases"] == 3
