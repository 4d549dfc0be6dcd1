"""HD95 and average surface distance: known shifts, spacing, the empty-class rule, folders."""

import csv
import math

import nibabel as nib
import numpy as np
import pytest

from ldseg.evaluation import evaluate_masks, pair_folders
from ldseg.evaluation.surface import surface_distances


def squares(shift=2, shape=(30, 40)):
    """Truth: a 10 x 10 square; prediction: the same square shifted ``shift`` along axis 1."""
    truth, pred = np.zeros(shape, int), np.zeros(shape, int)
    truth[10:20, 10:20] = 1
    pred[10:20, 10 + shift : 20 + shift] = 1
    return pred, truth


def test_shifted_square_distances_scale_with_spacing():
    pred, truth = squares(shift=2)
    hd95, asd = surface_distances(pred, truth, 2)
    assert math.isnan(hd95[0]) and math.isnan(asd[0])  # background is not scored
    assert hd95[1] == pytest.approx(2.0)
    assert 0 < asd[1] < 2
    hd95_mm, asd_mm = surface_distances(pred, truth, 2, spacing=(0.5, 3.0))
    assert hd95_mm[1] == pytest.approx(6.0)  # the shift is along the 3 mm axis
    assert asd_mm[1] > asd[1]
    same, same_asd = surface_distances(truth, truth, 2)
    assert same[1] == 0 and same_asd[1] == 0


def test_empty_class_rule():
    pred, truth = squares()
    hd95, asd = surface_distances(pred, truth, 4, spacing=(1.0, 2.0))
    assert np.isnan(hd95[2]) and np.isnan(asd[2])  # in neither: excluded
    missing = np.zeros_like(pred)
    hd95, asd = surface_distances(missing, truth, 2, spacing=(1.0, 2.0))
    assert hd95[1] == asd[1] == pytest.approx(math.hypot(30, 80))  # the image diagonal
    hd95, _ = surface_distances(truth, missing, 2)
    assert hd95[1] == pytest.approx(50.0)


def test_3d_volume():
    truth = np.zeros((12, 12, 8), int)
    truth[3:9, 3:9, 2:6] = 1
    pred = np.roll(truth, 1, axis=2)
    hd95, _ = surface_distances(pred, truth, 2, spacing=(1.0, 1.0, 2.5))
    assert hd95[1] == pytest.approx(2.5)


def test_evaluation_reports_distances_in_mm(tmp_path):
    pred, truth = squares(shift=2, shape=(30, 40))
    affine = np.diag([1.0, 3.0, 2.0, 1.0])
    for folder, mask in (("pred", pred), ("truth", truth)):
        (tmp_path / folder).mkdir()
        volume = np.repeat(mask[..., None], 3, axis=2).astype(np.uint8)
        nib.save(nib.Nifti1Image(volume, affine), tmp_path / folder / "v.nii.gz")
    out = tmp_path / "report" / "evaluation.json"
    report = evaluate_masks(
        pair_folders(tmp_path / "pred", tmp_path / "truth"), 2, out, surface=True
    )
    assert report["distance_unit"] == "mm" and "empty_class_rule" in report
    assert report["classes"]["1"]["hd95"] == pytest.approx(6.0)
    assert report["mean_hd95"] == pytest.approx(6.0) and report["cases"][0]["hd95"][0] is None
    assert report["classes"]["1"]["dice"] == pytest.approx(0.8)  # Dice is unchanged
    rows = list(csv.DictReader(out.with_suffix(".csv").open()))
    assert list(rows[0])[-2:] == ["hd95_1", "asd_1"] and float(rows[0]["hd95_1"]) == 6.0
    plain = evaluate_masks(pair_folders(tmp_path / "pred", tmp_path / "truth"), 2)
    assert "mean_hd95" not in plain and "hd95" not in plain["classes"]["1"]
