"""``ldseg cv-summary``: the fold runs of one split, each on its own fold's validation cases,
Dice pooled over every fold's cases; refuses runs that are not distinct folds of one split."""

import json
import shutil

import numpy as np
import pytest

from ldseg.cli import main
from ldseg.data.cases import read_truth
from ldseg.evaluation.metrics import dice_iou
from ldseg.runs import RunFolder
from tests.helpers import train_folds


@pytest.fixture(scope="module")
def folds(tmp_path_factory):
    """Four patients with two frames; the two folds of a 2-fold split, 1 epoch each."""
    root = tmp_path_factory.mktemp("crossval")
    data, _ = train_folds(root, patients=4, folds=2, trained=[0, 1])
    return root, data


def nan_mean(values):
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def test_pooled_dice_is_the_mean_over_every_fold_case(folds, capsys):
    root, _ = folds
    out = root / "cv.json"
    assert main(["cv-summary", str(root / "fold0"), str(root / "fold1"), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| pooled | 8 |" in printed and f"summary: {out}" in printed
    result = json.loads(out.read_text())
    splits = json.loads((root / "fold0" / "splits.json").read_text())
    assert (result["folds"], result["missing_folds"], result["num_cases"]) == (2, [], 8)
    for fold in (0, 1):
        stems = [c["stem"] for c in result["cases"] if c["fold"] == fold]
        assert sorted(stems) == splits[fold]["val"]  # each run on its own fold's cases
    classes = len(result["class_dice"])
    for c in range(classes):
        pooled = nan_mean([case["dice"][c] for case in result["cases"]])
        assert result["class_dice"][c] == pytest.approx(pooled, abs=1e-12)
        for row in result["runs"]:
            mine = [case["dice"][c] for case in result["cases"] if case["fold"] == row["fold"]]
            assert row["class_dice"][c] == pytest.approx(nan_mean(mine), abs=1e-12)
    assert result["mean_dice"] == pytest.approx(nan_mean(result["class_dice"][1:]))


def test_per_case_scores_match_predict_and_the_truth(folds, tmp_path):
    """Fold 0's cases through ``ldseg predict --seed 0`` and scored here: the same Dice."""
    root, data = folds
    out = tmp_path / "cv.json"
    assert main(["cv-summary", str(root / "fold0"), str(root / "fold1"), "--out", str(out)]) == 0
    cases = [c for c in json.loads(out.read_text())["cases"] if c["fold"] == 0]
    images = tmp_path / "images"
    images.mkdir()
    for case in cases:
        shutil.copy(data / "images" / f"{case['stem']}.png", images)
    predicted = tmp_path / "pred"
    run = ["predict", "--run", str(root / "fold0"), "--input", str(images)]
    assert main([*run, "--out", str(predicted), "--seed", "0", "--device", "cpu"]) == 0
    config = RunFolder(root / "fold0").load_config()
    for case in cases:
        mask = read_truth(predicted / f"{case['stem']}.png")[0]
        truth = read_truth(data / "masks" / f"{case['stem']}.png", config.data)[0]
        dice = dice_iou(mask, truth, config.model.num_classes)[0]
        want = [None if np.isnan(d) else d for d in dice]
        assert case["dice"] == pytest.approx(want, abs=1e-6)


def test_refuses_runs_that_are_not_distinct_folds_of_one_split(folds, tmp_path, capsys):
    root, _ = folds
    fold0, fold1 = str(root / "fold0"), str(root / "fold1")

    def refused(*runs, match):
        out = tmp_path / "cv.json"
        assert main(["cv-summary", *map(str, runs), "--out", str(out)]) == 1
        error = capsys.readouterr().err.strip()
        assert match in error and len(error.splitlines()) == 1
        assert not out.exists()

    refused(fold0, fold0, match=f"{fold0}: fold 0 again ({fold0} is fold 0)")
    other = tmp_path / "other"
    shutil.copytree(root / "fold1", other)
    splits = json.loads((other / "splits.json").read_text())
    (other / "splits.json").write_text(json.dumps(splits[::-1]))
    config = json.loads((other / "config.json").read_text())
    config["data"]["fold"] = 0
    (other / "config.json").write_text(json.dumps(config))
    refused(fold1, other, match=f"{other}/splits.json: differs from {fold1}/splits.json")
    config["data"] |= {"folds": 3, "fold": 0}
    (other / "config.json").write_text(json.dumps(config))
    refused(other, match=f"{other}/splits.json: 2 folds, the config 3")
    config["data"] |= {"folds": 0, "fold": 0}
    (other / "config.json").write_text(json.dumps(config))
    refused(other, match=f"{other}: not a cross-validation run (train --folds)")


def test_never_writes_over_a_run_file_and_follows_moved_data(folds, tmp_path, capsys):
    root, data = folds
    runs = [str(root / "fold0"), str(root / "fold1")]
    splits = (root / "fold0" / "splits.json").read_bytes()
    assert main(["cv-summary", *runs, "--out", str(root / "fold0" / "splits.json")]) == 1
    assert "would overwrite" in capsys.readouterr().err
    assert (root / "fold0" / "splits.json").read_bytes() == splits
    moved = tmp_path / "moved"
    shutil.move(data, moved)
    try:
        assert main(["cv-summary", *runs, "--out", str(tmp_path / "cv.json")]) == 1
        assert "missing (moved? give --data NEW_ROOT)" in capsys.readouterr().err
        args = ["cv-summary", *runs, "--out", str(tmp_path / "cv.json"), "--data", str(moved)]
        assert main(args) == 0
        assert json.loads((tmp_path / "cv.json").read_text())["num_cases"] == 8
    finally:
        shutil.move(moved, data)
