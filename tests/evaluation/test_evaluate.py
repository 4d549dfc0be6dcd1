"""Folder evaluation: pairing, aggregation with NaN, JSON and CSV reports."""

import csv
import json
import math

import nibabel as nib
import numpy as np
import pytest
from PIL import Image

from ldseg.errors import DataError
from ldseg.evaluation import evaluate_masks, pair_folders


def save(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array.astype(np.uint8)).save(path)


def cases(tmp_path):
    """Case a: class 1 Dice 2*3/(4+5), class 2 in neither mask; case b: perfect, both classes."""
    truth_a, pred_a = np.zeros((4, 5)), np.zeros((4, 5))
    truth_a.flat[0:4] = 1
    pred_a.flat[1:6] = 1
    truth_b = np.zeros((4, 5))
    truth_b[0, :2], truth_b[3, 3:] = 1, 2
    save(tmp_path / "pred" / "a.png", pred_a)
    save(tmp_path / "pred" / "b.png", truth_b)
    save(tmp_path / "truth" / "a_label.png", truth_a)
    save(tmp_path / "truth" / "b_label.png", truth_b)
    return tmp_path / "pred", tmp_path / "truth"


def test_report_values_and_files(tmp_path):
    pred, truth = cases(tmp_path)
    out = tmp_path / "report" / "evaluation.json"
    report = evaluate_masks(pair_folders(pred, truth), 3, out, ["background", "gland", "duct"])
    assert report["num_cases"] == 2 and report["num_classes"] == 3
    assert [c["case"] for c in report["cases"]] == ["a", "b"]
    one, two = report["classes"]["1"], report["classes"]["2"]
    assert one["name"] == "gland" and one["num_cases"] == 2
    assert one["dice"] == pytest.approx((2 / 3 + 1) / 2)
    assert one["dice_std"] == pytest.approx(1 / 6)
    assert one["iou"] == pytest.approx((0.5 + 1) / 2)
    assert two["dice"] == pytest.approx(1.0) and two["num_cases"] == 1  # NaN in case a excluded
    assert report["mean_dice"] == pytest.approx(((2 / 3 + 1) / 2 + 1) / 2)
    assert report["mean_iou"] == pytest.approx((0.75 + 1) / 2)
    case_a = report["cases"][0]
    assert case_a["dice"][2] is None and case_a["mean_dice"] == pytest.approx(2 / 3)

    assert json.loads(out.read_text()) == report
    rows = list(csv.DictReader(out.with_suffix(".csv").open()))
    assert list(rows[0]) == [
        "case", "dice_0", "iou_0", "dice_1", "iou_1", "dice_2", "iou_2", "mean_dice"
    ]  # fmt: skip
    assert rows[0]["case"] == "a" and rows[0]["dice_2"] == ""
    assert float(rows[0]["dice_1"]) == pytest.approx(2 / 3, abs=1e-6)
    assert sorted(p.name for p in out.parent.iterdir()) == ["evaluation.csv", "evaluation.json"]


def test_all_nan_class_is_null(tmp_path):
    pred, truth = cases(tmp_path)
    report = evaluate_masks(pair_folders(pred, truth), 4)
    three = report["classes"]["3"]
    assert three["dice"] is None and three["num_cases"] == 0 and three["name"] is None
    assert not any(isinstance(v, float) and math.isnan(v) for v in report["cases"][0]["dice"])
    json.dumps(report, allow_nan=False)


def test_nifti_and_report_in_prediction_folder(tmp_path):
    volume = np.zeros((3, 4, 5), np.uint8)
    volume[1, 1:3, 2:4] = 1
    for path in (tmp_path / "pred" / "v.nii.gz", tmp_path / "set" / "labels" / "v_seg.nii.gz"):
        path.parent.mkdir(parents=True)
        nib.save(nib.Nifti1Image(volume, np.eye(4)), path)
    out = tmp_path / "pred" / "evaluation.json"
    evaluate_masks(pair_folders(tmp_path / "pred", tmp_path / "set"), 2, out)
    report = evaluate_masks(
        pair_folders(tmp_path / "pred", tmp_path / "set"), 2, out
    )  # report files skipped
    assert report["num_cases"] == 1 and report["mean_dice"] == pytest.approx(1.0)


def test_missing_and_mismatched(tmp_path):
    pred, truth = cases(tmp_path)
    save(pred / "c.png", np.zeros((4, 5)))
    save(truth / "d_gt.png", np.zeros((4, 5)))
    with pytest.raises(DataError, match=r"no truth mask for 1 prediction.*c\.png.*d_gt\.png"):
        evaluate_masks(pair_folders(pred, truth), 3)
    (pred / "c.png").unlink()
    save(pred / "d.png", np.zeros((5, 4)))
    with pytest.raises(DataError, match=r"d\.png.*shape"):
        evaluate_masks(pair_folders(pred, truth), 3)
