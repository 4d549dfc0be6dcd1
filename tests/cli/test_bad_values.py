"""Bad values anywhere a user gives them (an option, a run's config.json, a pair list, a
dataset.json, a volume's axes): one line naming the option or the file and the entry, a non-zero
exit, no traceback and nothing written."""

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from ldseg.cli import main
from tests.helpers import tiny_config, tiny_dataset, untrained_run, write_nifti, write_png

# (command line, the option refused): every numeric option of every command, out of bounds.
BAD_OPTIONS = [
    ("evaluate --pred P --truth T --classes 1", "--classes", "must be at least 2"),
    ("evaluate --pred P --truth T --classes 0", "--classes", "must be at least 2"),
    ("train --data D --out R --classes 1", "--classes", "must be at least 2"),
    ("train --data D --out R --size 0 32", "--size", "must be at least 1"),
    ("train --data D --out R --epochs 0", "--epochs", "must be at least 1"),
    ("train --data D --out R --epochs two", "--epochs", "expected an integer"),
    ("train --data D --out R --batch-size -1", "--batch-size", "must be at least 1"),
    ("train --data D --out R --lr 0", "--lr", "must be above 0"),
    ("train --data D --out R --lr nan", "--lr", "must be finite"),
    ("train --data D --out R --seed -1", "--seed", "must be at least 0"),
    ("train --data D --out R --sampling-steps 0", "--sampling-steps", "must be at least 1"),
    ("train --data D --out R --max-minutes -5", "--max-minutes", "must be at least 0"),
    ("predict --run R --input I --out O --steps 0", "--steps", "must be at least 1"),
    ("predict --run R --input I --out O --batch-size 0", "--batch-size", "must be at least 1"),
    ("predict --run R --input I --out O --workers -1", "--workers", "must be at least 0"),
    ("predict --run R --input I --out O --samples 0", "--samples", "must be at least 1"),
    ("predict --run R --input I --out O --seed 1.5", "--seed", "expected an integer"),
    ("check-data D --classes 1", "--classes", "must be at least 2"),
    ("check-data D --binarize inf", "--binarize", "must be finite"),
    ("compare R --data D --steps 0", "--steps", "must be at least 1"),
    ("export --run R --format onnx --out F --steps -2", "--steps", "must be at least 1"),
    ("demo --epochs 0", "--epochs", "must be at least 1"),
    ("experiment steps --run R --data D --steps 1,0", "--steps", "must be at least 1"),
    ("experiment steps --run R --data D --repeats 0", "--repeats", "must be at least 1"),
    ("experiment steps --run R --data D --max-cases 0", "--max-cases", "must be at least 1"),
    ("experiment noise --run R --data D --sigmas 0,-0.1", "--sigmas", "must be at least 0"),
    ("experiment evaluate --run R --data D --steps 0", "--steps", "must be at least 1"),
    ("experiment timing --run R --repeats 0", "--repeats", "must be at least 1"),
    ("experiment uncertainty --run R --data D --samples 1", "--samples", "must be at least 2"),
    ("experiment diagnose --run R --data D --seed -3", "--seed", "must be at least 0"),
]


@pytest.mark.parametrize(
    ("command", "option", "problem"), BAD_OPTIONS, ids=[c[0] for c in BAD_OPTIONS]
)
def test_a_bad_option_value_is_one_line_naming_the_option(
    tmp_path, capsys, command, option, problem
):
    with pytest.raises(SystemExit) as exit:
        main(command.split())
    assert exit.value.code == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert f"error: argument {option}: {problem}" in lines[0]


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err and lines[0].startswith("ldseg: error: "), err
    return lines[0]


@pytest.fixture(scope="module")
def good_run(tmp_path_factory) -> Path:
    return untrained_run(tmp_path_factory.mktemp("values") / "run")


# (config.json entry, its bad value, what the one line says)
BAD_CONFIG = [
    ("data.size", [30, 32], r"data\.size \[30, 32\] must divide by the latent factor \[8, 8\]"),
    ("data.size", [8, 8, 8], r"latent of 1 voxel .* smallest size that works is \[16, 8, 8\]"),
    ("model.latent_factor", [16, 3], r"model\.latent_factor \[16, 3\]: each must be a power of 2"),
    ("model.schedule", "cosh", r"model\.schedule must be one of"),
    ("model.decoder_input", "z", r"model\.decoder_input must be one of"),
    ("model.prediction", "x1", r"model\.prediction must be one of"),
    ("model.denoiser_attention", [True], r"model\.denoiser_attention \[True\] needs one flag per"),
    ("model.channels", [8], r"model\.channels \[8\] needs 2 or more"),
    ("model.dropout", 1.5, r"model\.dropout must be in \[0, 1\)"),
    ("data.class_names", ["a"], r"data\.class_names has 1 names for 3 classes"),
    ("sampling.steps", 0, r"sampling\.steps must be between 1 and 1000"),
    ("model.num_classes", "3", r"model: num_classes: expected int, got '3'"),
]


@pytest.mark.parametrize(("key", "value", "problem"), BAD_CONFIG, ids=[c[0] for c in BAD_CONFIG])
def test_a_bad_config_value_of_a_run_is_one_line_naming_the_file_and_key(
    good_run, tmp_path, capsys, key, value, problem
):
    run = tmp_path / "run"
    shutil.copytree(good_run, run)
    raw = json.loads((run / "config.json").read_text())
    section, name = key.split(".")
    raw[section][name] = value
    (run / "config.json").write_text(json.dumps(raw))
    write_png(tmp_path / "in" / "a.png", np.zeros((32, 32), np.uint8))
    out = tmp_path / "out"
    args = ["predict", "--run", str(run), "--input", str(tmp_path / "in"), "--out", str(out)]
    assert main(args) == 1
    line = one_error_line(capsys)
    assert line.startswith(f"ldseg: error: {run / 'config.json'}: ") and re.search(problem, line)
    assert not out.exists()


def test_a_size_without_room_for_normalisation_is_refused_before_training(tmp_path, capsys):
    data = tiny_dataset(tmp_path / "data", num_cases=2, size=(16, 16))
    out = tmp_path / "run"
    args = ["train", "--data", str(data), "--out", str(out), "--size", "8", "8", "--quiet"]
    assert main(args) == 1
    line = one_error_line(capsys)
    assert "command line: data.size [8, 8] leaves a latent of 1 voxel" in line
    assert "the smallest size that works is [16, 8]" in line
    assert not out.exists()


def test_training_on_one_case_works(tmp_path, capsys):
    data = tiny_dataset(tmp_path / "data", num_cases=1, size=(32, 32))
    preset = tmp_path / "tiny.json"
    preset.write_text(json.dumps(tiny_config(epochs=1).to_dict()))
    out = tmp_path / "run"
    args = ["train", "--data", str(data), "--out", str(out), "--config", str(preset), "--quiet"]
    assert main(args) == 0
    assert (out / "best.safetensors").is_file()


def test_8_bit_truth_masks_without_classes_get_a_warning_naming_binarize(tmp_path, capsys):
    rng = np.random.default_rng(0)
    pred, truth = tmp_path / "pred", tmp_path / "truth"
    for stem in ("a", "b"):
        foreground = rng.random((32, 32)) > 0.5
        write_png(pred / f"{stem}.png", foreground.astype(np.uint8))
        write_png(truth / f"{stem}.jpg", (foreground * 255).astype(np.uint8))  # JPEG: 0..255
    args = ["evaluate", "--pred", str(pred), "--truth", str(truth), "--out"]
    assert main([*args, str(tmp_path / "raw.json")]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and re.match(r"ldseg: warning: label values up to 2\d\d ", err[0])
    assert "give --binarize 127" in err[0] and str(truth) in err[0]
    assert main([*args, str(tmp_path / "binary.json"), "--binarize", "127"]) == 0
    assert "warning" not in capsys.readouterr().err
    report = json.loads((tmp_path / "binary.json").read_text())
    assert report["num_classes"] == 2 and report["mean_dice"] > 0.95


@pytest.mark.parametrize("entries", [3, 4])
def test_a_volume_extra_axis_is_never_read_as_colour(tmp_path, capsys, entries):
    size = (32, 32, 16)
    grey_run = untrained_run(tmp_path / "grey", size=size)
    volume = np.random.default_rng(0).random((*size, entries), dtype=np.float32)
    image = write_nifti(tmp_path / "in" / "a.nii.gz", volume)
    out = tmp_path / "out"
    args = ["predict", "--input", str(image), "--out", str(out), "--workers", "0", "--strict"]
    assert main([*args, "--run", str(grey_run)]) == 1
    line = one_error_line(capsys)
    assert line == (
        f"ldseg: error: {image}: volume has {entries} entries on its extra axis (read as "
        "channels, never as colour); the model expects 1 channel(s)"
    )
    assert not (out / "a.nii.gz").exists()
    many = untrained_run(tmp_path / "many", size=size, in_channels=entries)
    assert main([*args, "--run", str(many)]) == 0  # a run that expects that many channels
    assert (out / "a.nii.gz").is_file()


def pair_files(root: Path) -> None:
    rng = np.random.default_rng(0)
    write_png(root / "img" / "a.png", rng.integers(0, 256, (32, 32), dtype=np.uint8))
    write_png(root / "lab" / "a.png", rng.integers(0, 3, (32, 32), dtype=np.uint8))


GOOD_ENTRY = {"image": "img/a.png", "label": "lab/a.png"}

# (file name, its content, what the one line says after the file's path)
BAD_LISTS = [
    ("pairs.json", [{**GOOD_ENTRY, "image": 7}], r"entry 0: image must be a file path, got 7"),
    (
        "pairs.json",
        [{**GOOD_ENTRY, "label": [1]}],
        r"entry 0: label must be a file path, got \[1\]",
    ),
    ("pairs.json", [{**GOOD_ENTRY, "image": ["img/a.png", 3]}], r"entry 0: image must be a file"),
    ("pairs.json", [{**GOOD_ENTRY, "split": ["train"]}], r"entry 0: split must be a name"),
    ("pairs.json", [GOOD_ENTRY, "img/a.png"], r"entry 1: expected an object with image and label"),
    ("pairs.json", {"training": [GOOD_ENTRY, 5]}, r"training entry 1: expected an object"),
    ("pairs.json", {"image": "img/a.png"}, r"expected a list of \{image, label\} objects"),
    ("pairs.csv", "image,label\nimg/a.png,lab/a.png,extra\n", r"entry 2: more cells than"),
    ("pairs.csv", "picture,label\nimg/a.png,lab/a.png\n", r"line 1: the header picture,label"),
    ("pairs.csv", "image,label\nimg/a.png\n", r"entry 2 needs image and label"),
]
META = {
    "channel_names": {"0": "CT"},
    "labels": {"background": 0, "organ": 1},
    "numTraining": 1,
    "file_ending": ".nii.gz",
}
BAD_META = [
    ({"file_ending": None}, r"file_ending must be a file ending such as \.nii\.gz, got None"),
    ({"channel_names": {"CT": "0"}}, r"channel_names keys must be the channel numbers 0\.\.0"),
    ({"channel_names": ["CT"]}, r"channel_names must map channel numbers to names"),
    ({"labels": ["background", "organ"]}, r"labels must map class names to label values"),
    ({"labels": {"0": ["bg"], "1": "organ"}}, r"labels \{value: name\} need class names"),
    ({"labels": {"background": 0, "organ": "1"}}, r"labels must map names to integer values"),
    ({"numTraining": "1"}, r"numTraining must be a number of cases, got '1'"),
]


def assert_train_refuses(capsys, data: Path, where: Path, problem: str, out: Path) -> None:
    args = ["train", "--data", str(data), "--out", str(out), "--size", "32", "32", "--quiet"]
    assert main(args) == 1
    line = one_error_line(capsys)
    assert line.startswith(f"ldseg: error: {where}: ") and re.search(problem, line), line
    assert not out.exists()
    assert main(["check-data", str(data), "--quiet"]) == 1
    assert re.search(problem, one_error_line(capsys))


@pytest.mark.parametrize(("name", "content", "problem"), BAD_LISTS, ids=[c[2] for c in BAD_LISTS])
def test_a_malformed_pair_list_is_one_line_naming_the_entry(
    tmp_path, capsys, name, content, problem
):
    pair_files(tmp_path)
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    assert_train_refuses(capsys, path, path, problem, tmp_path / "run")


@pytest.mark.parametrize(("change", "problem"), BAD_META, ids=[c[1] for c in BAD_META])
def test_a_dataset_json_field_of_a_wrong_type_is_one_line(tmp_path, capsys, change, problem):
    root = tmp_path / "nnunet"
    root.mkdir()
    (root / "dataset.json").write_text(json.dumps({**META, **change}))
    size = (32, 32, 16)
    write_nifti(root / "imagesTr" / "a_0000.nii.gz", np.zeros(size, np.float32))
    write_nifti(root / "labelsTr" / "a.nii.gz", np.zeros(size, np.uint8))
    assert_train_refuses(capsys, root, root / "dataset.json", problem, tmp_path / "run")
