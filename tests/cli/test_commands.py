"""The command line end to end on tiny synthetic data: train, predict, evaluate, errors."""

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from ldseg.cli import main
from tests.helpers import tiny_config, tiny_dataset


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    data = tiny_dataset(root / "train", num_cases=6, size=(48, 32))
    val = tiny_dataset(root / "val", num_cases=3, size=(48, 32), seed=1)
    preset = root / "tiny.yaml"
    cfg = tiny_config().to_dict()
    preset.write_text(yaml.safe_dump({"model": cfg["model"], "train": {"val_every": 1}}))
    args = ["train", "--data", str(data), "--val-data", str(val), "--out", str(root / "run")]
    args += ["--config", str(preset), "--size", "32", "32", "--classes", "3", "--epochs", "2"]
    args += ["--batch-size", "2", "--seed", "1", "--sampling-steps", "3", "--max-minutes", "30"]
    assert main([*args, "--quiet"]) == 0
    return root


def test_train_writes_run_with_overrides(trained):
    config = json.loads((trained / "run" / "config.json").read_text())
    assert config["data"]["size"] == [32, 32]
    assert config["model"]["num_classes"] == 3 and config["model"]["channels"] == [4, 8, 8, 8, 4]
    assert config["train"]["epochs"] == 2 and config["train"]["seed"] == 1
    assert config["sampling"]["steps"] == 3 and config["train"]["max_minutes"] == 30


def test_predict_then_evaluate(trained, capsys):
    pred = trained / "pred"
    args = ["predict", "--run", str(trained / "run"), "--input", str(trained / "val" / "images")]
    assert main([*args, "--out", str(pred), "--steps", "2"]) == 0
    masks = sorted(pred.glob("*.png"))
    assert len(masks) == 3
    for mask in masks:
        array = np.asarray(Image.open(mask))
        assert array.shape == (48, 32) and array.max() <= 2
    report_path = trained / "eval.json"
    args = ["evaluate", "--pred", str(pred), "--truth", str(trained / "val" / "masks")]
    assert main([*args, "--classes", "3", "--out", str(report_path)]) == 0
    report = json.loads(report_path.read_text())
    assert report["num_cases"] == 3 and set(report["classes"]) == {"0", "1", "2"}
    assert 0 <= report["mean_dice"] <= 1
    assert report_path.with_suffix(".csv").is_file()
    assert "fg mean" in capsys.readouterr().out
    inferred = trained / "inferred.json"
    args = ["evaluate", "--pred", str(pred), "--truth", str(trained / "val" / "masks")]
    assert main([*args, "--out", str(inferred)]) == 0
    assert json.loads(inferred.read_text())["num_classes"] == 3


def test_predict_skips_a_bad_file_and_exits_nonzero(trained, tmp_path, capsys):
    inputs = tmp_path / "in"
    inputs.mkdir()
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(inputs / "good.png")
    (inputs / "broken.png").write_bytes(b"not a png")
    args = ["predict", "--run", str(trained / "run"), "--input", str(inputs)]
    assert main([*args, "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "broken.png" in err and "Traceback" not in err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["good.png", "prediction.json"]
    assert main([*args, "--out", str(tmp_path / "strict"), "--strict"]) == 1


def test_errors_are_one_line_without_traceback(tmp_path, capsys):
    assert main(["train", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "r")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("ldseg: error:") and "missing" in err and len(err.splitlines()) == 1
    assert main(["predict", "--run", str(tmp_path), "--input", "x", "--out", "y"]) == 1
    assert "config.json" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("device", "message"),
    [("nonsense", "not a torch device"), ("cuda:7", "no such CUDA device")],
)
def test_predict_refuses_an_unusable_device(trained, tmp_path, capsys, device, message):
    args = ["predict", "--run", str(trained / "run"), "--input", str(trained / "val" / "images")]
    assert main([*args, "--out", str(tmp_path / "out"), "--device", device]) == 1
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "command", ["demo", "train", "predict", "evaluate", "experiment", "check-data", "compare"]
)
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: ldseg" in capsys.readouterr().out


def test_predict_records_what_it_did(trained, tmp_path):
    """prediction.json beside the masks: the run, the sampler and K as resolved from the run
    (none given here; the run's K is 3), the options, the run's config, each input's outcome."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("a.png", "b.png"):
        (inputs / name).write_bytes((trained / "val" / "images" / "case_000.png").read_bytes())
    (inputs / "c.png").write_bytes(b"not a png")
    out = tmp_path / "out"
    args = ["predict", "--run", str(trained / "run"), "--input", str(inputs), "--out", str(out)]
    assert main([*args, "--seed", "4", "--workers", "0"]) == 1
    record = json.loads((out / "prediction.json").read_text())
    assert record["run"] == str((trained / "run").resolve()) and record["weights"] == "best"
    assert (record["sampler"], record["steps"]) == ("ddim", 3) and record["device"] in (
        "cpu",
        "cuda",
    )
    assert record["options"]["sampling"] == {
        "steps": None,
        "sampler": None,
        "seed": 4,
        "samples": 1,
        "tta": False,
    }
    assert record["flips"] == [[]] and record["keep_largest_component"] == []
    assert record["config"] == json.loads((trained / "run" / "config.json").read_text())
    outcomes = {Path(e["input"]).name: e.get("mask", e.get("error")) for e in record["inputs"]}
    assert outcomes["a.png"] == "a.png" and outcomes["b.png"] == "b.png"
    assert "c.png: cannot read" in outcomes["c.png"]
