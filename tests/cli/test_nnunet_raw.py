"""nnU-Net raw end to end: ``check-data``, ``train``, ``predict`` on ``imagesTs`` (channel files
grouped into one case, written as ``case.nii.gz``) and ``evaluate`` against ``labelsTs``; and
``evaluate --config`` reading truth masks with a preset's data settings."""

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from ldseg.cli import main
from ldseg.data.readers import read_channels
from ldseg.inference import Predictor
from tests.helpers import one_thread, write_nifti, write_png

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
SIZE = (16, 16, 8)
AFFINE = np.diag([0.8, 0.8, 3.0, 1.0])
TINY = """model: {channels: [4, 8, 8, 8, 4], denoiser_channels: [8, 16],
  denoiser_attention: [false, true], num_heads: 2, latent_factor: [4, 4, 2]}
data: {size: [16, 16, 8]}
train: {batch_size: 2, val_every: 1}
"""


@pytest.fixture(autouse=True)
def _one_thread():
    with one_thread():
        yield


def write_raw(root: Path, train=6, test=2) -> Path:
    """An nnU-Net v2 raw dataset of two-channel volumes: the blob is in channel 0 only."""
    rng = np.random.default_rng(0)
    meta = {
        "channel_names": {"0": "T1", "1": "T2"},
        "labels": {"background": 0, "blob": 1},
        "numTraining": train,
        "file_ending": ".nii.gz",
    }
    root.mkdir(parents=True)
    (root / "dataset.json").write_text(json.dumps(meta))
    for split, cases in (("Tr", [f"tr{i}" for i in range(train)]), ("Ts", ["ts0", "ts1"][:test])):
        for case in cases:
            mask = np.zeros(SIZE, np.uint8)
            x, y = rng.integers(3, 10, 2)
            mask[x : x + 5, y : y + 5, 2:6] = 1
            first = (mask + 0.3 * rng.random(SIZE)).astype(np.float32)
            write_nifti(root / f"images{split}" / f"{case}_0000.nii.gz", first, AFFINE)
            second = rng.random(SIZE, dtype=np.float32)
            write_nifti(root / f"images{split}" / f"{case}_0001.nii.gz", second, AFFINE)
            write_nifti(root / f"labels{split}" / f"{case}.nii.gz", mask, AFFINE)
    return root


def test_round_trip(tmp_path, capsys):
    raw = write_raw(tmp_path / "Dataset001_Toy")
    (tmp_path / "tiny.yaml").write_text(TINY)
    run, pred = tmp_path / "run", tmp_path / "pred"
    assert main(["check-data", str(raw), "--quiet"]) == 0
    train = ["train", "--data", str(raw), "--out", str(run), "--epochs", "1", "--quiet"]
    assert main([*train, "--config", str(tmp_path / "tiny.yaml")]) == 0
    assert (
        main(["predict", "--run", str(run), "--input", str(raw / "imagesTs"), "--out", str(pred)])
        == 0
    )
    assert sorted(p.name for p in pred.iterdir()) == ["prediction.json", "ts0.nii.gz", "ts1.nii.gz"]
    # each mask is the prediction of both channels together, on the first channel's grid
    predictor = Predictor.from_run(run)
    for case in ("ts0", "ts1"):
        image, _ = read_channels([raw / "imagesTs" / f"{case}_000{c}.nii.gz" for c in (0, 1)])
        written = nib.load(pred / f"{case}.nii.gz")
        np.testing.assert_array_equal(written.get_fdata(), predictor.predict_array(image).mask)
        np.testing.assert_allclose(written.affine, AFFINE)
    record = json.loads((pred / "prediction.json").read_text())
    assert record["inputs"][0]["input"] == [
        str(raw / "imagesTs" / f"ts0_000{c}.nii.gz") for c in (0, 1)
    ]
    assert record["inputs"][0]["mask"] == "ts0.nii.gz"
    out = tmp_path / "evaluation.json"
    truth = raw / "labelsTs"
    assert (
        main(
            [
                "evaluate",
                "--pred",
                str(pred),
                "--truth",
                str(truth),
                "--run",
                str(run),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    report = json.loads(out.read_text())
    assert [case["case"] for case in report["cases"]] == ["ts0", "ts1"]
    assert report["class_names"] == ["background", "blob"]


def test_missing_channel_file_writes_nothing(tmp_path, capsys):
    raw = write_raw(tmp_path / "Dataset001_Toy", train=4)
    (tmp_path / "tiny.yaml").write_text(TINY)
    run, pred = tmp_path / "run", tmp_path / "pred"
    train = ["train", "--data", str(raw), "--out", str(run), "--epochs", "1", "--quiet"]
    assert main([*train, "--config", str(tmp_path / "tiny.yaml")]) == 0
    (raw / "imagesTs" / "ts1_0001.nii.gz").unlink()
    capsys.readouterr()
    assert (
        main(["predict", "--run", str(run), "--input", str(raw / "imagesTs"), "--out", str(pred)])
        == 1
    )
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in lines[0]
    assert f"{raw / 'imagesTs' / 'ts1_0001.nii.gz'}: no such file" in lines[0]
    assert not pred.exists()


def test_evaluate_config_binarises_jpeg_and_instance_masks(tmp_path, capsys):
    """Kvasir-SEG JPEG masks (0/255 with JPEG noise) and GlaS instance ids score as the binary
    masks they are through their presets; read as class indices they are refused."""
    mask = np.zeros((32, 32), np.uint8)
    mask[8:24, 6:20] = 1
    write_png(tmp_path / "pred" / "a.png", mask)
    write_png(tmp_path / "kvasir" / "a.jpg", mask * 255)
    instances = mask.copy()
    instances[16:24] *= 2  # two glands, ids 1 and 2
    write_png(tmp_path / "glas" / "a_anno.bmp", instances)
    for truth, preset in (("kvasir", "kvasir.yaml"), ("glas", "glas.yaml")):
        out = tmp_path / f"{truth}.json"
        args = ["evaluate", "--pred", str(tmp_path / "pred"), "--truth", str(tmp_path / truth)]
        assert main([*args, "--config", str(CONFIGS / preset), "--out", str(out)]) == 0
        report = json.loads(out.read_text())
        assert report["num_classes"] == 2 and report["mean_dice"] > 0.99, truth
        assert report["class_names"][1] in ("polyp", "gland")
        plain = tmp_path / f"{truth}-plain.json"
        assert main([*args, "--classes", "2", "--out", str(plain)]) == 1  # labels 255 or 2
        assert "outside" in capsys.readouterr().err and not plain.exists()


def test_evaluate_takes_run_or_config_not_both(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate", "--pred", "p", "--truth", "t", "--run", "r", "--config", "c.yaml"])
    assert exit_info.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err
