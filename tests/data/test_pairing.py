"""Pairing images with masks and listing image folders."""

from pathlib import Path

import numpy as np
import pytest

from ldseg.data.layouts import find_pairs
from ldseg.data.pairing import list_images
from ldseg.data.readers import read_image, read_mask
from ldseg.errors import DataError
from tests.helpers import write_nifti, write_png


def test_find_pairs(tmp_path):
    root = make_dataset(
        tmp_path,
        ["b.png", "a.png", "c.bmp"],
        ["a.png", "b_label.png", "c_gt.png"],
        "Image",
        "Label",
    )
    (root / "Image" / ".DS_Store").write_bytes(b"x")
    pairs = find_pairs(root)
    assert [p.stem for p in pairs] == ["a", "b", "c"]
    assert pairs[1].image == root / "Image" / "b.png"
    assert pairs[1].mask == root / "Label" / "b_label.png"


@pytest.mark.parametrize(
    ("images", "masks", "mask_dir", "match"),
    [
        (["a.png"], ["a.png"], "segs", "no mask folder"),
        ([], ["a.png"], "masks", "no image files"),
        (["a.png", "b.png"], ["a.png"], "masks", "no mask for 1 image.s.: b.png"),
        (["a.png"], ["a.png", "z_mask.png"], "masks", "no image for 1 mask.s.: z_mask.png"),
        (["a.png"], ["a_label.png", "a_mask.png"], "masks", "two masks for a.png"),
    ],
)
def test_find_pairs_errors(tmp_path, images, masks, mask_dir, match):
    root = make_dataset(tmp_path / "set", images, masks, mask_dir=mask_dir)
    (root / "images").mkdir(exist_ok=True)
    with pytest.raises(DataError, match=match):
        find_pairs(root)


def test_find_pairs_folder_errors(tmp_path):
    with pytest.raises(DataError, match="no image folder"):
        find_pairs(make_dataset(tmp_path / "set", [], ["a.png"]))
    root = make_dataset(tmp_path / "other", ["a.png"], ["a.png"])
    (root / "masks" / "notes.txt").write_text("x")
    with pytest.raises(DataError, match=r"notes\.txt"):
        find_pairs(root)


def test_list_images(tmp_path):
    one = write_png(tmp_path / "one.png", np.zeros((2, 2), np.uint8))
    assert list_images(one) == [one]
    root = make_dataset(tmp_path / "set", ["b.png", "a.png"], [])
    assert [p.name for p in list_images(root)] == ["a.png", "b.png"]
    write_nifti(tmp_path / "vols" / "v.nii.gz", np.zeros((2, 2, 2), np.float32))
    assert [p.name for p in list_images(tmp_path / "vols")] == ["v.nii.gz"]
    (tmp_path / "vols" / "readme.md").write_text("x")
    with pytest.raises(DataError, match=r"readme\.md"):
        list_images(tmp_path / "vols")
    listed = list_images(tmp_path / "vols", strict=False)  # for predict to report and skip
    assert [p.name for p in listed] == ["readme.md", "v.nii.gz"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="empty"):
        list_images(tmp_path / "empty")


def test_shared_data(shared_data):
    camus = find_pairs(shared_data / "camus" / "train")
    assert len(camus) == 1600
    assert camus[0].image.name == camus[0].mask.name
    knee = find_pairs(shared_data / "knee-5")
    assert len(knee) == 5
    assert (knee[0].stem, knee[0].mask.name) == ("Case1", "Case1_label.nii.gz")
    assert len(find_pairs(shared_data / "glas-5")) == 5

    image, meta = read_image(camus[0].image)
    assert image.shape == (1, 224, 224) and meta["kind"] == "raster"
    assert set(np.unique(read_mask(camus[0].mask))) <= {0, 1, 2, 3}
    volume, meta = read_image(knee[0].image)
    assert volume.shape == (1, *meta["spatial_shape"]) and volume.ndim == 4
    assert read_mask(knee[0].mask).shape == meta["spatial_shape"]


def make_dataset(root: Path, image_names, mask_names, image_dir="images", mask_dir="masks"):
    for name in image_names:
        write_png(root / image_dir / name, np.zeros((2, 2), np.uint8))
    for name in mask_names:
        write_png(root / mask_dir / name, np.zeros((2, 2), np.uint8))
    return root
