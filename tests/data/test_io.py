"""Reading, writing and pairing images and masks."""

import re
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from PIL import Image

from ldseg.data.io import (
    file_stem,
    find_pairs,
    is_volume,
    list_images,
    read_image,
    read_mask,
    write_mask,
)
from ldseg.errors import DataError, LDSegError
from tests.helpers import write_nifti, write_png

RNG = np.random.default_rng(0)


def oblique_affine() -> np.ndarray:
    """Rotation about z by 30 degrees, spacing (0.7, 1.3, 2.5), an offset."""
    a = np.deg2rad(30)
    rotation = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    affine = np.eye(4)
    affine[:3, :3] = rotation @ np.diag([0.7, 1.3, 2.5])
    affine[:3, 3] = [-12.5, 40.25, 7.0]
    return affine


def test_file_stem_and_is_volume():
    assert file_stem("a/case1.nii.gz") == "case1"
    assert file_stem("case.v2.png") == "case.v2"
    assert file_stem(Path("x/Case1_label.NII.GZ")) == "Case1_label"
    assert is_volume("a.nii") and is_volume("a.nii.gz") and not is_volume("a.png")


def test_read_png_keeps_row_major_layout(tmp_path):
    grey = RNG.integers(0, 256, (3, 5), dtype=np.uint8)
    image, meta = read_image(write_png(tmp_path / "g.png", grey))
    assert image.shape == (1, 3, 5) and image.dtype == np.float32
    np.testing.assert_array_equal(image[0], grey)
    assert meta["kind"] == "raster" and meta["spatial_shape"] == (3, 5)
    np.testing.assert_array_equal(meta["affine"], np.eye(4))

    rgb = RNG.integers(0, 256, (3, 5, 3), dtype=np.uint8)
    image, _ = read_image(write_png(tmp_path / "c.png", rgb))
    np.testing.assert_array_equal(image, rgb.transpose(2, 0, 1))

    rgba = np.dstack([rgb, np.full((3, 5), 7, np.uint8)])
    image, _ = read_image(write_png(tmp_path / "ca.png", rgba))
    np.testing.assert_array_equal(image, rgb.transpose(2, 0, 1))


@pytest.mark.parametrize("suffix", [".bmp", ".tif"])
def test_read_other_raster_formats(tmp_path, suffix):
    grey = RNG.integers(0, 256, (4, 6), dtype=np.uint8)
    image, _ = read_image(write_png(tmp_path / f"g{suffix}", grey))
    np.testing.assert_array_equal(image[0], grey)


def test_read_nifti_keeps_layout_and_affine(tmp_path):
    data = RNG.normal(size=(4, 5, 6)).astype(np.float32)
    image, meta = read_image(write_nifti(tmp_path / "v.nii.gz", data, oblique_affine()))
    assert image.shape == (1, 4, 5, 6) and meta["kind"] == "volume"
    np.testing.assert_array_equal(image[0], data)
    np.testing.assert_allclose(meta["affine"], oblique_affine())
    np.testing.assert_allclose(meta["spacing"], (0.7, 1.3, 2.5))


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("missing.png", None),
        ("text.png", b"not an image"),
        ("cut.nii.gz", "truncated"),
        ("notes.txt", b"hello"),
        ("nan.nii.gz", "nan"),
        ("empty.nii.gz", "empty"),
    ],
)
def test_read_image_errors_name_the_file(tmp_path, name, content):
    path = tmp_path / name
    if content == "truncated":
        whole = write_nifti(
            tmp_path / "whole.nii.gz", np.ones((20, 20, 20), np.float32)
        ).read_bytes()
        path.write_bytes(whole[: len(whole) // 2])
    elif content == "nan":
        write_nifti(path, np.array([[[1.0, np.nan]]], np.float32))
    elif content == "empty":
        write_nifti(path, np.zeros((0, 3, 3), np.float32))
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(DataError, match=re.escape(name)) as info:
        read_image(path)
    assert "\n" not in str(info.value)


def test_read_mask(tmp_path):
    labels = RNG.integers(0, 4, (3, 5), dtype=np.uint8)
    mask = read_mask(write_png(tmp_path / "m.png", labels))
    assert mask.dtype == np.int64 and mask.shape == (3, 5)
    np.testing.assert_array_equal(mask, labels)
    # RGB and RGBA masks with identical colour channels are accepted
    np.testing.assert_array_equal(
        read_mask(write_png(tmp_path / "rgb.png", np.dstack([labels] * 3))), labels
    )
    rgba = np.dstack([labels] * 3 + [np.full((3, 5), 255, np.uint8)])
    np.testing.assert_array_equal(read_mask(write_png(tmp_path / "rgba.png", rgba)), labels)
    volume = RNG.integers(0, 3, (4, 5, 6)).astype(np.uint8)
    np.testing.assert_array_equal(read_mask(write_nifti(tmp_path / "m.nii.gz", volume)), volume)


def test_read_mask_errors(tmp_path):
    colours = RNG.integers(0, 4, (3, 5, 3), dtype=np.uint8)
    with pytest.raises(DataError, match=r"colour\.png.*channels"):
        read_mask(write_png(tmp_path / "colour.png", colours))
    with pytest.raises(DataError, match=r"frac\.nii\.gz.*non-integer"):
        read_mask(write_nifti(tmp_path / "frac.nii.gz", np.full((2, 2, 2), 0.5, np.float32)))


def test_write_mask_png(tmp_path):
    reference = write_png(tmp_path / "img.jpg", np.zeros((3, 5), np.uint8))
    labels = RNG.integers(0, 4, (3, 5))
    out = write_mask(labels, reference, tmp_path / "out" / "case.nii.gz")
    assert out == tmp_path / "out" / "case.png"
    with Image.open(out) as written:
        assert written.mode == "L" and written.size == (5, 3)
    np.testing.assert_array_equal(read_mask(out), labels)

    big = labels * 100
    out = write_mask(big, reference, tmp_path / "big.png")
    assert np.asarray(Image.open(out)).dtype == np.uint16
    np.testing.assert_array_equal(read_mask(out), big)


def test_write_mask_nifti_keeps_geometry(tmp_path):
    affine = oblique_affine()
    reference = write_nifti(tmp_path / "img.nii.gz", np.zeros((4, 5, 6), np.int16), affine)
    labels = RNG.integers(0, 3, (4, 5, 6))
    out = write_mask(labels, reference, tmp_path / "case.png")
    assert out.name == "case.nii.gz"
    written, ref = nib.load(out), nib.load(reference)
    assert written.get_data_dtype() == np.uint8
    np.testing.assert_array_equal(written.affine, ref.affine)
    np.testing.assert_array_equal(written.header.get_zooms(), ref.header.get_zooms())
    np.testing.assert_array_equal(written.header.get_sform(), ref.header.get_sform())
    np.testing.assert_array_equal(written.header.get_qform(), ref.header.get_qform())
    np.testing.assert_array_equal(np.asanyarray(written.dataobj), labels)


def test_write_mask_is_atomic(tmp_path):
    reference = write_png(tmp_path / "img.png", np.zeros((3, 5), np.uint8))
    out_dir = tmp_path / "out"
    write_mask(np.ones((3, 5), int), reference, out_dir / "a.png")
    with pytest.raises(DataError, match=r"a\.png"):  # wrong shape: nothing written or replaced
        write_mask(np.zeros((5, 3), int), reference, out_dir / "a.png")
    with pytest.raises(DataError, match=r"b\.png"):  # values too large for PNG
        write_mask(np.full((3, 5), 70000), reference, out_dir / "b.png")
    assert sorted(p.name for p in out_dir.iterdir()) == ["a.png"]
    np.testing.assert_array_equal(read_mask(out_dir / "a.png"), 1)


def test_write_mask_cleans_temp_file_on_failure(tmp_path, monkeypatch):
    reference = write_png(tmp_path / "img.png", np.zeros((3, 5), np.uint8))

    def failing_save(self, path, *args, **kwargs):
        Path(path).write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", failing_save)
    with pytest.raises(LDSegError, match=r"a\.png: cannot write \(disk full\)"):
        write_mask(np.ones((3, 5), int), reference, tmp_path / "out" / "a.png")
    assert list((tmp_path / "out").iterdir()) == []


def make_dataset(root: Path, image_names, mask_names, image_dir="images", mask_dir="masks"):
    for name in image_names:
        write_png(root / image_dir / name, np.zeros((2, 2), np.uint8))
    for name in mask_names:
        write_png(root / mask_dir / name, np.zeros((2, 2), np.uint8))
    return root


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
