"""Train, predict and evaluate on small subsets of the real data in ../shared/data."""

import json

import nibabel as nib
import numpy as np
from PIL import Image

from ldseg.cli import main
from tests.helpers import tiny_config


def subset(source, dest, stems, image_dir, mask_dir, mask_suffix="", ext=".png"):
    """Symlink a few pairs into a fresh folder (the data itself stays in ../shared)."""
    for sub in ("images", "masks"):
        (dest / sub).mkdir(parents=True)
    for stem in stems:
        (dest / "images" / f"{stem}{ext}").symlink_to(source / image_dir / f"{stem}{ext}")
        (dest / "masks" / f"{stem}{mask_suffix}{ext}").symlink_to(
            source / mask_dir / f"{stem}{mask_suffix}{ext}"
        )
    return dest


def tiny_preset(path, **data):
    cfg = tiny_config().to_dict()
    path.write_text(json.dumps({"model": cfg["model"], "data": data}))
    return path


def test_camus_train_predict_evaluate(shared_data, tmp_path):
    camus = shared_data / "camus"
    stems = sorted(p.stem for p in (camus / "train" / "images").glob("*.png"))[:8]
    train_dir = subset(camus / "train", tmp_path / "train", stems, "images", "masks")
    val_stems = sorted(p.stem for p in (camus / "val" / "images").glob("*.png"))[:3]
    val_dir = subset(camus / "val", tmp_path / "val", val_stems, "images", "masks")
    preset = tiny_preset(tmp_path / "tiny.json", size=[64, 64])
    run = tmp_path / "run"
    args = ["train", "--data", str(train_dir), "--val-data", str(val_dir), "--out", str(run)]
    assert main([*args, "--config", str(preset), "--classes", "4", "--epochs", "1", "--quiet"]) == 0
    pred = tmp_path / "pred"
    args = ["predict", "--run", str(run), "--input", str(val_dir / "images"), "--out", str(pred)]
    assert main([*args, "--steps", "2"]) == 0
    masks = sorted(pred.glob("*.png"))
    assert [m.stem for m in masks] == val_stems
    for mask in masks:
        array = np.asarray(Image.open(mask))
        assert array.shape == (224, 224) and array.max() <= 3
    report = tmp_path / "eval.json"
    args = ["evaluate", "--pred", str(pred), "--truth", str(val_dir / "masks"), "--classes", "4"]
    assert main([*args, "--out", str(report)]) == 0
    assert json.loads(report.read_text())["num_cases"] == 3


def test_knee_3d_train_predict_keeps_geometry(shared_data, tmp_path):
    knee = shared_data / "knee-5"
    stems = ["Case1", "Case2", "Case3"]
    data = subset(knee, tmp_path / "knee", stems, "Image", "Label", "_label", ".nii.gz")
    preset = tiny_preset(tmp_path / "tiny.json", size=[32, 16, 32])
    run = tmp_path / "run"
    args = ["train", "--data", str(data), "--out", str(run), "--config", str(preset)]
    assert main([*args, "--classes", "3", "--epochs", "1", "--batch-size", "2", "--quiet"]) == 0
    pred = tmp_path / "pred"
    source = knee / "Image" / "Case4.nii.gz"
    assert main(["predict", "--run", str(run), "--input", str(source), "--out", str(pred)]) == 0
    result, reference = nib.load(pred / "Case4.nii.gz"), nib.load(source)
    assert result.shape == reference.shape
    np.testing.assert_array_equal(result.affine, reference.affine)
    assert int(np.asarray(result.dataobj).max()) <= 2
