"""Every command that reads truth masks reads them as training did: with the run's data
settings (here a class mapping that folds label 3 into the background) and its layout.

Before, ``evaluate``, ``compare`` and the experiments read masks as plain class indices from a
folder with images/ and masks/: on these masks they failed (label 3 lies outside the run's
three classes) or, had the labels fitted, scored against other classes than training saw.
"""

import json
import shutil

import numpy as np
import pytest

from ldseg.cli import main
from ldseg.data.layouts import find_pairs
from ldseg.data.readers import read_image, read_mask
from ldseg.evaluation.metrics import dice_iou
from ldseg.inference import Predictor
from tests.helpers import one_thread, tiny_dataset

MAPPING = [0, 1, 2, 0]  # the synthetic LA (label 3) is background for this run


@pytest.fixture(autouse=True)
def _one_thread():
    with one_thread():
        yield


@pytest.fixture(scope="module")
def mapped_run(tiny_run, tmp_path_factory):
    """The tiny 3-class run, its config saying that label 3 of a mask is class 0."""
    run = tmp_path_factory.mktemp("mapped") / "run"
    shutil.copytree(tiny_run, run)
    config = json.loads((run / "config.json").read_text())
    config["data"]["class_mapping"] = MAPPING
    (run / "config.json").write_text(json.dumps(config))
    return run


@pytest.fixture(scope="module")
def four_labels(tmp_path_factory):
    """A dataset with train/ and val/ splits whose masks hold labels 0..3."""
    root = tmp_path_factory.mktemp("four") / "set"
    tiny_dataset(root / "train", 2, size=(40, 36), num_classes=4, seed=5)
    tiny_dataset(root / "val", 3, size=(40, 36), num_classes=4, seed=6)
    assert max(int(read_mask(p.mask).max()) for p in find_pairs(root / "val")) == 3
    return root


def expected_dice(run, folder, steps=None) -> float:
    """Mean foreground Dice of one-at-a-time predictions against the mapped truth."""
    predictor = Predictor.from_run(run)
    scores = []
    for pair in find_pairs(folder):
        mask = predictor.predict_array(read_image(pair.image)[0], steps).mask
        truth = np.asarray(MAPPING)[read_mask(pair.mask)]
        scores.append(dice_iou(mask, truth, 3)[0])
    return float(np.nanmean(np.array(scores), axis=0)[1:].mean())


def test_evaluate_reads_truth_with_the_run_settings(mapped_run, four_labels, tmp_path, capsys):
    val = four_labels / "val"
    pred = tmp_path / "pred"
    assert main(["predict", "--run", str(mapped_run), "--input", str(val), "--out", str(pred)]) == 0
    plain = ["evaluate", "--pred", str(pred), "--truth", str(val / "masks")]
    assert main([*plain, "--classes", "3", "--out", str(tmp_path / "plain.json")]) == 1
    assert "outside 0..2" in capsys.readouterr().err  # label 3 read as it is
    out = tmp_path / "eval.json"
    assert main([*plain, "--run", str(mapped_run), "--out", str(out), "--report"]) == 0
    report = json.loads(out.read_text())
    assert report["num_classes"] == 3
    assert report["mean_dice"] == pytest.approx(expected_dice(mapped_run, val))


def test_compare_and_experiments_read_the_run_split_and_mapping(mapped_run, four_labels, tmp_path):
    val = four_labels / "val"
    expected = expected_dice(mapped_run, val)
    out = tmp_path / "compare"
    assert main(["compare", str(mapped_run), "--data", str(four_labels), "--out", str(out)]) == 0
    row = json.loads((out / "compare.json").read_text())["runs"][0]
    assert row["mean_dice"] == pytest.approx(expected)

    common = ["--run", str(mapped_run), "--data", str(four_labels), "--split", "val"]
    assert (
        main(
            [
                "experiment",
                "steps",
                *common,
                "--steps",
                "2",
                "--repeats",
                "1",
                "--out",
                str(tmp_path / "s"),
            ]
        )
        == 0
    )
    steps = json.loads((tmp_path / "s" / "results.json").read_text())["results"]
    assert steps["num_cases"] == 3 and steps["rows"][0]["mean_dice"] == pytest.approx(expected)
    assert main(["experiment", "evaluate", *common, "--out", str(tmp_path / "e")]) == 0
    evaluated = json.loads((tmp_path / "e" / "results.json").read_text())["results"]
    assert evaluated["num_cases"] == 3 and evaluated["mean_dice"] == pytest.approx(expected)
    assert (
        main(["experiment", "uncertainty", *common, "--samples", "2", "--out", str(tmp_path / "u")])
        == 0
    )
    assert json.loads((tmp_path / "u" / "results.json").read_text())["results"]["num_cases"] == 3
