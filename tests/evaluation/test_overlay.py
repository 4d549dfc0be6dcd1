"""Overlay figures."""

import numpy as np
from PIL import Image

from ldseg.evaluation.overlay import middle_slice, save_overlay, save_overlay_grid


def image_and_masks(shape=(20, 30)):
    rng = np.random.default_rng(0)
    image = rng.random((1, *shape)).astype(np.float32)
    pred = np.zeros(shape, int)
    pred[5:15, 5:20] = 1
    truth = np.zeros(shape, int)
    truth[6:16, 4:18] = 2
    return image, pred, truth


def test_save_overlay_colours_the_prediction(tmp_path):
    image, pred, truth = image_and_masks()
    out = save_overlay(
        image * 0, pred, tmp_path / "o.png", truth, "case", class_names=["bg", "a", "b"]
    )
    assert out == tmp_path / "o.png" and list(tmp_path.iterdir()) == [out]
    pixels = np.asarray(Image.open(out).convert("RGB")).astype(int)
    orange = (pixels[..., 0] > 80) & (pixels[..., 0] > pixels[..., 2] + 50)  # class 1 fill on black
    assert orange.sum() > 100


def test_middle_slice_and_3d_overlay(tmp_path):
    volume = np.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5)
    np.testing.assert_array_equal(middle_slice(volume), volume[..., 2])
    image, pred, truth = image_and_masks()
    stack = np.repeat(image[..., None], 3, axis=-1)
    rgb = np.concatenate([stack] * 3)  # (3, H, W, Z)
    pred3, truth3 = (np.repeat(m[..., None], 3, axis=-1) for m in (pred, truth))
    out = save_overlay(rgb, pred3, tmp_path / "v.png", truth3)
    assert Image.open(out).format == "PNG"


def test_save_overlay_grid(tmp_path):
    image, pred, truth = image_and_masks()
    items = [(image, pred, truth, f"case {i}") for i in range(5)] + [(image, pred, None, None)]
    out = save_overlay_grid(items, tmp_path / "grid.png", ncols=4, class_names=["bg", "a", "b"])
    width, height = Image.open(out).size
    assert width > height > 0
