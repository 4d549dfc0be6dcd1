"""``train_data.json``: paths relative to the data root, read under a new root when the data
moved, every file checked; an older, absolute data list still reads."""

import json
import shutil

import pytest

from ldseg.data.layouts import find_pairs
from ldseg.data.pairing import Pair
from ldseg.errors import DataError, RunFolderError
from ldseg.runs.state import read_data_list, write_data_list
from tests.helpers import tiny_dataset


def test_paths_are_relative_to_the_root_and_follow_the_data(tmp_path):
    data = tiny_dataset(tmp_path / "old" / "data", num_cases=3)
    elsewhere = tiny_dataset(tmp_path / "val", num_cases=1)
    pairs, val = find_pairs(data), find_pairs(elsewhere)
    path = tmp_path / "train_data.json"
    write_data_list(path, pairs, val, data)
    raw = json.loads(path.read_text())
    assert raw["root"] == str(data.resolve())
    assert raw["train"][0] == {
        "image": "images/case_000.png",
        "mask": "masks/case_000.png",
        "stem": "case_000",
        "channels": [],
    }
    assert raw["val"][0]["image"] == str((elsewhere / "images" / "case_000.png").resolve())
    assert read_data_list(path) == (
        [Pair(p.image.resolve(), p.mask.resolve(), p.stem) for p in pairs],
        [Pair(p.image.resolve(), p.mask.resolve(), p.stem) for p in val],
    )
    moved = tmp_path / "new"
    shutil.move(data, moved)
    with pytest.raises(DataError, match=r"case_000\.png: missing \(moved\? give --data NEW_ROOT"):
        read_data_list(path)
    train, _ = read_data_list(path, moved)
    assert [p.image for p in train] == [moved / "images" / f"case_00{i}.png" for i in range(3)]
    (moved / "masks" / "case_001.png").unlink()
    with pytest.raises(DataError, match=rf"{moved}/masks/case_001\.png: missing under the data"):
        read_data_list(path, moved)


def test_the_default_root_is_the_deepest_folder_of_every_file(tmp_path):
    data = tiny_dataset(tmp_path / "data", num_cases=2)
    path = tmp_path / "train_data.json"
    write_data_list(path, find_pairs(data), [])
    assert json.loads(path.read_text())["root"] == str(data.resolve())


def test_an_absolute_data_list_reads_but_cannot_move(tmp_path):
    data = tiny_dataset(tmp_path / "data", num_cases=2)
    entries = [
        {"image": str(p.image.resolve()), "mask": str(p.mask.resolve()), "stem": p.stem}
        for p in find_pairs(data)
    ]
    path = tmp_path / "train_data.json"
    path.write_text(json.dumps({"train": [e | {"channels": []} for e in entries], "val": []}))
    train, val = read_data_list(path)
    assert [p.stem for p in train] == ["case_000", "case_001"] and val == []
    with pytest.raises(RunFolderError, match=r"records absolute paths .* --data cannot move them"):
        read_data_list(path, tmp_path)
