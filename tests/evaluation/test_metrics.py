"""Per-class Dice and IoU on hand-made masks."""

import numpy as np
import pytest
import torch

from ldseg.errors import DataError
from ldseg.evaluation.metrics import CaseScores, class_statistics, dice_iou, dice_summary


def masks() -> tuple[np.ndarray, np.ndarray]:
    """4x5 maps: class 1 truth 4 pixels, prediction 5, overlap 3; class 2 nowhere;
    class 3 predicted in one pixel but absent from the truth."""
    truth, pred = np.zeros((4, 5), int), np.zeros((4, 5), int)
    truth.flat[0:4] = 1
    pred.flat[1:6] = 1
    pred[3, 4] = 3
    return pred, truth


def test_exact_values_and_empty_class_rule():
    dice, iou = dice_iou(*masks(), num_classes=4)
    # background: truth 16, prediction 14, overlap 13
    np.testing.assert_allclose(dice[[0, 1, 3]], [2 * 13 / 30, 2 * 3 / (4 + 5), 0.0], rtol=1e-6)
    np.testing.assert_allclose(iou[[0, 1, 3]], [13 / 17, 3 / 6, 0.0], rtol=1e-6)
    assert np.isnan(dice[2]) and np.isnan(iou[2])


def test_tensors_and_3d():
    pred, truth = masks()
    pred3, truth3 = np.stack([pred, pred]), np.stack([truth, truth])
    dice, iou = dice_iou(torch.from_numpy(pred3), torch.from_numpy(truth3), 4)
    np.testing.assert_allclose(dice[1], 2 / 3, rtol=1e-6)
    np.testing.assert_allclose(iou[1], 0.5, rtol=1e-6)


def test_perfect_prediction():
    _, truth = masks()
    dice, iou = dice_iou(truth, truth, 3)
    np.testing.assert_array_equal(dice[:2], 1.0)
    np.testing.assert_array_equal(iou[:2], 1.0)
    assert np.isnan(dice[2])


def test_errors():
    with pytest.raises(DataError, match="shape"):
        dice_iou(np.zeros((4, 5), int), np.zeros((5, 4), int), 2)
    with pytest.raises(DataError, match=r"outside 0\.\.1"):
        dice_iou(np.full((2, 2), 2), np.zeros((2, 2), int), 2)


def test_case_scores_hold_each_case_in_its_position():
    rng = np.random.default_rng(0)
    masks = [rng.integers(0, 3, (6, 5)) for _ in range(4)]
    truths = [rng.integers(0, 3, (6, 5)) for _ in range(4)]
    truths[1][truths[1] == 2] = 0  # class 2 absent from one truth
    expected = [dice_iou(m, t, 3) for m, t in zip(masks, truths, strict=True)]
    scores = CaseScores(3, iou=True)
    for position in (2, 0, 3, 1):  # finished out of order, as batches of one size finish them
        dice = scores.add(masks[position], truths[position], position)
        np.testing.assert_array_equal(dice, expected[position][0])
    assert len(scores) == 4
    np.testing.assert_array_equal(scores.dice, np.array([e[0] for e in expected]))
    np.testing.assert_array_equal(scores.iou, np.array([e[1] for e in expected]))
    np.testing.assert_array_equal(scores.class_dice(), class_statistics(scores.dice)[0])
    assert scores.summary() == dice_summary([e[0] for e in expected])
    same = CaseScores.of(masks, truths, 3)
    np.testing.assert_array_equal(same.dice, scores.dice)
    with pytest.raises(ValueError, match="without IoU"):
        _ = same.iou
    assert CaseScores(3).dice.shape == (0, 3) and CaseScores(3).class_dice().size == 0
