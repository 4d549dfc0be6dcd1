"""Which rows share a model call under each batching."""

import pytest
import torch

from ldseg.data.adapter import NetworkInput
from ldseg.inference.batches import row_batches


def case(name: str, rows: int, shape=(4, 4)) -> NetworkInput:
    return NetworkInput(name, torch.zeros(rows, 1, *shape), shape if rows == 1 else (*shape, rows))


def names(batches) -> list[list[str]]:
    return [[f"{c.stem}{row}" if len(c.images) > 1 else c.stem for _, c, row in b] for b in batches]


def test_consecutive_batches_split_at_a_new_shape_and_at_the_batch_size():
    shapes = [(4, 4)] * 5 + [(4, 6)] * 2 + [(4, 4)]
    cases = [case(f"c{i}", 1, s) for i, s in enumerate(shapes)]
    assert names(row_batches(cases, 3, "consecutive")) == [
        ["c0", "c1", "c2"],
        ["c3", "c4"],
        ["c5", "c6"],
        ["c7"],
    ]
    volumes = [case("a", 3), case("b", 2)]  # slices of consecutive volumes share a batch
    assert names(row_batches(volumes, 4, "consecutive")) == [["a0", "a1", "a2", "b0"], ["b1"]]


def test_size_batches_pool_images_of_one_shape_and_keep_a_volume_to_itself():
    shapes = [(4, 4), (4, 6), (4, 4), (4, 6), (4, 4)]
    cases = [case(f"c{i}", 1, s) for i, s in enumerate(shapes)]
    assert names(row_batches(cases, 2, "size")) == [["c0", "c2"], ["c1", "c3"], ["c4"]]
    volumes = [case("a", 3), case("b", 2), case("c", 1)]
    assert names(row_batches(volumes, 2, "size")) == [["a0", "a1"], ["a2"], ["b0", "b1"], ["c"]]


def test_case_batches_hold_one_case_each():
    cases = [case("a", 1), case("b", 1), case("v", 3)]
    assert names(row_batches(cases, 2, "case")) == [["a"], ["b"], ["v0", "v1"], ["v2"]]
    positions = [[p for p, _, _ in b] for b in row_batches(cases, 2, "case")]
    assert positions == [[0], [1], [2, 2], [2]]
    with pytest.raises(ValueError, match="batching must be one of"):
        list(row_batches(cases, 2, "volume"))
