"""Largest-component post-processing: the largest foreground region first, where it raises the
mean foreground Dice; then a class's largest component, where it raises that class's validation
Dice, applied to that class alone."""

import numpy as np

from ldseg.evaluation.postprocess import (
    FOREGROUND,
    decide_postprocessing,
    keep_largest_component,
)


def _cases() -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Class 1: one true square, predicted with a spurious blob. Class 2: two true squares,
    both predicted: keeping one would remove true tissue."""
    truths, predictions = [], []
    for shift in (0, 2):
        truth = np.zeros((32, 32), np.uint8)
        truth[4 + shift : 12 + shift, 4:12] = 1
        truth[20:26, 2 + shift : 8 + shift] = 2
        truth[20:24, 20:24] = 2
        prediction = truth.copy()
        prediction[28:31, 28:31] = 1  # spurious blob of class 1, apart from the square
        truths.append(truth)
        predictions.append(prediction)
    return predictions, truths


def test_decision_keeps_only_the_class_it_helps():
    predictions, truths = _cases()
    decision = decide_postprocessing(predictions, truths, num_classes=3)
    assert decision["keep_largest_component"] == [1]
    assert decision["cases"] == 2
    before, after = decision["dice_before"], decision["dice_after"]
    assert after[0] == 1.0 and before[0] < 1.0  # the blob removed: class 1 perfect
    assert before[1] == 1.0 and after[1] < 1.0  # the smaller true square of class 2 lost


def test_applied_to_the_chosen_classes_only():
    predictions, truths = _cases()
    kept = keep_largest_component(predictions[0], [1])
    np.testing.assert_array_equal(kept, truths[0])  # blob gone, both class-2 squares kept
    assert kept.dtype == predictions[0].dtype
    np.testing.assert_array_equal(keep_largest_component(predictions[0], []), predictions[0])
    both = keep_largest_component(predictions[0], [1, 2])
    assert (both == 2).sum() == 36  # the 6 x 6 square of class 2 stays, the 4 x 4 one goes


def test_diagonal_neighbours_are_one_component_and_absent_classes_are_not_chosen():
    mask = np.zeros((8, 8, 8), np.uint8)
    mask[1, 1, 1] = mask[2, 2, 2] = 1  # touching at a corner: full connectivity joins them
    np.testing.assert_array_equal(keep_largest_component(mask, [1]), mask)
    empty = [np.zeros((8, 8), np.uint8)]
    decision = decide_postprocessing(empty, empty, num_classes=2)
    assert decision["keep_largest_component"] == [] and decision["dice_before"] == [None]


def _stray_blob_cases() -> tuple[list[np.ndarray], list[np.ndarray]]:
    """A heart-like object (class 1 ring around class 2) predicted right, plus a stray class-2
    blob far away that is larger than the true class 2 (as ldseg's LV on the stomach in ACDC)."""
    truths, predictions = [], []
    for shift in (0, 3):
        truth = np.zeros((40, 40), np.uint8)
        truth[4 + shift : 14 + shift, 4:14] = 1
        truth[7 + shift : 11 + shift, 7:11] = 2
        prediction = truth.copy()
        prediction[25:35, 25:33] = 2  # 80 voxels against the true 16
        truths.append(truth)
        predictions.append(prediction)
    return predictions, truths


def test_the_largest_foreground_region_goes_first_and_removes_a_stray_blob():
    predictions, truths = _stray_blob_cases()
    region = keep_largest_component(predictions[0], [FOREGROUND])
    np.testing.assert_array_equal(region, truths[0])
    # class 2 alone would keep the stray blob, the largest of its components, and lose the truth
    assert (keep_largest_component(predictions[0], [2])[truths[0] == 2] == 0).all()
    np.testing.assert_array_equal(keep_largest_component(predictions[0], [2, FOREGROUND]), region)
    decision = decide_postprocessing(predictions, truths, num_classes=3)
    assert decision["keep_largest_component"] == [FOREGROUND]  # no class step adds anything
    assert decision["foreground_dice_region"] == 1.0 > decision["foreground_dice_before"]
    assert decision["dice_after"] == [1.0, 1.0]


def test_the_region_step_is_not_chosen_where_it_removes_true_tissue():
    """``_cases``: the class-2 squares lie apart from class 1, so one region would lose them."""
    predictions, truths = _cases()
    decision = decide_postprocessing(predictions, truths, num_classes=3)
    assert FOREGROUND not in decision["keep_largest_component"]
    assert decision["foreground_dice_region"] < decision["foreground_dice_before"]
