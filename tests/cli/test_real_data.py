"""Train, predict and evaluate on small subsets of the real data in ../shared/data."""

import json
import re
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from PIL import Image

from ldseg.cli import main
from tests.helpers import tiny_config

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


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


@pytest.mark.parametrize(
    ("name", "preset", "pairs", "channels", "classes"),
    [
        ("camus", "camus", {"train": 1600, "val": 200}, 1, 4),
        ("acdc", "acdc", {"train": 140, "val": 20}, 1, 4),
        ("kvasir-seg", "kvasir", {"all": 998}, 3, 2),  # JPEG masks binarised at 127
        ("glas-5", "glas", {"all": 5}, 3, 2),  # gland instance ids binarised at 0
        ("knee-5", "knee", {"all": 5}, 1, 3),
    ],
)
def test_check_data_on_the_real_sets(shared_data, capsys, name, preset, pairs, channels, classes):
    """``ldseg check-data`` with the set's preset reads every pair: all usable, every class
    present, no empty mask."""
    config = str(CONFIGS / f"{preset}.yaml")
    assert main(["check-data", str(shared_data / name), "--config", config, "--quiet"]) == 0
    out = capsys.readouterr().out
    rows = re.findall(r"^\| (\w+) \| (\d+) \| 0 \| (\d) \| .* \| ([\d,]+) \| 0 \| 0 \|$", out, re.M)
    assert {split: int(n) for split, n, _, _ in rows} == pairs, out
    assert {(int(c), labels) for _, _, c, labels in rows} == {
        (channels, ",".join(map(str, range(classes))))
    }
    assert out.strip().endswith(f"usable: {sum(pairs.values())} pairs, {classes} classes")


def test_check_data_finds_unbinarised_instance_ids(shared_data, capsys):
    """Without the GlaS preset's binarisation the gland ids of the four masks with more than
    one gland fall outside 2 declared classes (Case5 holds a single gland, id 1)."""
    assert main(["check-data", str(shared_data / "glas-5"), "--classes", "2", "--quiet"]) == 1
    out = capsys.readouterr().out
    outside = (
        r"^problem: .*/(Case\d)_label\.bmp: label values .* outside the declared classes 0\.\.1$"
    )
    assert re.findall(outside, out, re.M) == ["Case1", "Case2", "Case3", "Case4"]
    assert out.strip().endswith("NOT usable: 4 problem(s)")
