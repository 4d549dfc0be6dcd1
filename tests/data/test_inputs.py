"""Prediction inputs: nnU-Net channel files grouped into one case, other files one by one."""

from pathlib import Path

import pytest

from ldseg.data.inputs import ImageInput, as_input, group_channels
from ldseg.errors import DataError


def files(*names: str) -> list[Path]:
    return [Path("in") / n for n in names]


def test_channel_files_become_one_case_each():
    paths = files("b_0001.nii.gz", "a_0000.nii.gz", "b_0000.nii.gz", "a_0001.nii.gz")
    assert group_channels(sorted(paths), 2) == [
        ImageInput(tuple(files("a_0000.nii.gz", "a_0001.nii.gz")), "a"),
        ImageInput(tuple(files("b_0000.nii.gz", "b_0001.nii.gz")), "b"),
    ]
    # one channel: nnU-Net's case_0000 is predicted as case
    assert group_channels(files("a_0000.png"), 1) == [ImageInput(tuple(files("a_0000.png")), "a")]


@pytest.mark.parametrize(
    "names",
    [
        ("img_0000.png", "img_0001.png", "img_0002.png"),  # numbered frames, not channels
        ("a_0000.png", "b.png"),  # not every file is a channel file
        ("scan_2024.nii.gz",),
    ],
)
def test_other_files_are_inputs_of_their_own(names):
    assert group_channels(files(*names), 2) == [as_input(p) for p in files(*names)]


def test_missing_or_duplicate_channel_file_is_named():
    with pytest.raises(DataError, match=r"^in/b_0001\.nii\.gz: no such file; case b needs"):
        group_channels(files("a_0000.nii.gz", "a_0001.nii.gz", "b_0000.nii.gz"), 2)
    with pytest.raises(DataError, match=r"two files for channel 0: a_0000.nii, a_0000.png"):
        group_channels(files("a_0000.nii", "a_0000.png", "a_0001.png"), 2)


def test_non_image_files_pass_through_for_reporting():
    grouped = group_channels(files("a_0000.png", "a_0001.png", "notes.txt"), 2)
    assert [item.stem for item in grouped] == ["a", "notes"]
