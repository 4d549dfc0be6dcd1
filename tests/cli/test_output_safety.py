"""The output-safety rule through every command that writes: an output that would replace an
input of the command, a file of a run folder it does not own, or another output of the same
command stops the command before it writes anything, with one line naming both paths; the
colliding file is byte-identical afterwards."""

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest

from ldseg.cli import main
from tests.helpers import snapshot, tiny_dataset, untrained_run, write_png

RNG = np.random.default_rng(0)


def grey(shape=(32, 32)) -> np.ndarray:
    return RNG.integers(0, 256, shape, dtype=np.uint8)


def error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ldseg: error: "), err
    return lines[0]


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    return untrained_run(tmp_path_factory.mktemp("safety") / "run")


@pytest.fixture
def data(tmp_path) -> Path:
    return tiny_dataset(tmp_path / "data", num_cases=2, size=(32, 32))


def refused(capsys, command: list[str], *folders: Path) -> str:
    """Run ``command``; assert exit 1, one error line, and ``folders`` unchanged to the byte."""
    before = [snapshot(f) for f in folders]
    assert main(command) == 1
    line = error_line(capsys)
    assert [snapshot(f) for f in folders] == before
    return line


def predict(run: Path, inputs: Path, out: Path, *extra: str) -> list[str]:
    return ["predict", "--run", str(run), "--input", str(inputs), "--out", str(out), *extra]


# predict


def test_predict_into_its_input_folder(run, tmp_path, capsys):
    inputs = tmp_path / "in"
    write_png(inputs / "a.png", grey())
    line = refused(capsys, predict(run, inputs, inputs, "--workers", "0"), inputs)
    assert f"{inputs / 'a.png'}: would overwrite the input {inputs / 'a.png'}" in line


def test_predict_two_inputs_of_one_stem(run, tmp_path, capsys):
    inputs, out = tmp_path / "in", tmp_path / "out"
    write_png(inputs / "a.png", grey())
    write_png(inputs / "a.jpg", grey())
    line = refused(capsys, predict(run, inputs, out, "--workers", "0"), inputs)
    assert f"{out / 'a.png'}: two outputs of this command would be the same file" in line
    assert str(inputs / "a.png") in line and str(inputs / "a.jpg") in line
    assert not out.exists()


def test_predict_over_a_run_file(run, tmp_path, capsys):
    inputs, target = tmp_path / "in", tmp_path / "other_run"
    write_png(inputs / "curves.png", grey())  # its mask would be other_run/curves.png
    shutil.copytree(run, target)
    write_png(target / "curves.png", grey())
    line = refused(capsys, predict(run, inputs, target, "--workers", "0"), inputs, target)
    assert f"{target / 'curves.png'}: would overwrite a file of the run folder {target}" in line


def test_predict_uncertainty_maps_of_one_stem(run, tmp_path, capsys):
    inputs, out = tmp_path / "in", tmp_path / "out"
    write_png(inputs / "a.png", grey())
    write_png(inputs / "a_mean.png", grey())  # masks a.png, a_mean.png; maps a_mean, a_std
    command = predict(run, inputs, out, "--samples", "2", "--save-uncertainty")
    assert main([*command, "--workers", "0"]) == 0  # the maps go to out/uncertainty: no clash
    assert (out / "uncertainty" / "a_mean.png").is_file() and (out / "a_mean.png").is_file()


# evaluate


def masks(folder: Path, stems=("a", "b")) -> Path:
    for stem in stems:
        write_png(folder / f"{stem}.png", RNG.integers(0, 3, (32, 32), dtype=np.uint8))
    return folder


def evaluate(pred: Path, truth: Path, *extra: str) -> list[str]:
    return ["evaluate", "--pred", str(pred), "--truth", str(truth), "--classes", "3", *extra]


def test_evaluate_over_an_input(tmp_path, capsys):
    pred, truth = masks(tmp_path / "pred"), masks(tmp_path / "truth")
    command = evaluate(pred, truth, "--out", str(truth / "a.png"))
    line = refused(capsys, command, pred, truth)
    assert f"{truth / 'a.png'}: would overwrite the input {truth / 'a.png'}" in line


def test_evaluate_over_a_run_file(run, tmp_path, capsys):
    pred, truth = masks(tmp_path / "pred"), masks(tmp_path / "truth")
    command = evaluate(pred, truth, "--run", str(run), "--out", str(run / "config.json"))
    line = refused(capsys, command, run)
    assert f"{run / 'config.json'}: would overwrite" in line


def test_evaluate_two_outputs_of_one_name(tmp_path, capsys):
    pred, truth = masks(tmp_path / "pred"), masks(tmp_path / "truth")
    out = tmp_path / "scores.csv"  # the JSON report and its CSV would be one file
    line = refused(capsys, evaluate(pred, truth, "--out", str(out)), pred, truth)
    assert f"{out}: two outputs of this command would be the same file {out}" in line
    assert not out.exists()


# export


def test_export_over_the_run_weights(run, capsys):
    for name in ("best.safetensors", "config.json"):
        command = ["export", "--run", str(run), "--format", "torchscript"]
        line = refused(capsys, [*command, "--out", str(run / name)], run)
        assert f"{run / name}: would overwrite" in line


# compare and the experiments


def test_compare_over_a_file_of_its_data(run, data, capsys):
    notes = data / "compare.md"
    notes.write_text("my notes\n")
    command = ["compare", str(run), "--data", str(data), "--out", str(data)]
    line = refused(capsys, command, data, run)
    assert f"{notes}: would overwrite the input {notes}" in line


@pytest.mark.parametrize("experiment", ["evaluate", "steps", "noise", "diagnose", "uncertainty"])
def test_experiment_over_a_file_of_its_data(run, data, capsys, experiment):
    figure = data / "results.json"
    figure.write_text("{}\n")
    command = ["experiment", experiment, "--run", str(run), "--data", str(data)]
    line = refused(capsys, [*command, "--out", str(data)], data, run)
    assert f"{figure}: would overwrite the input {figure}" in line


def test_experiment_timing_over_a_run_input(run, tmp_path, capsys):
    out = tmp_path / "timing"
    shutil.copytree(run, out)  # --out is a run folder that is also the --run input
    command = ["experiment", "timing", "--run", str(out), "--out", str(out), "--sizes", "32"]
    (out / "results.json").write_text("{}\n")
    assert main(command) == 0  # results.json is not a run file: it may be replaced
    assert snapshot(out)["config.json"] == snapshot(run)["config.json"]


# train and demo


def test_train_into_a_run_folder(run, data, capsys):
    command = ["train", "--data", str(data), "--out", str(run), "--epochs", "1", "--quiet"]
    line = refused(capsys, [*command, "--size", "32", "32"], run, data)
    assert f"{run}: already holds a run" in line


def test_train_over_an_input(tmp_path, data, capsys):
    out = tmp_path / "run"
    out.mkdir()
    image = out / "curves.png"  # an input image that training would replace by its curves
    shutil.copy(data / "images" / "case_000.png", image)
    pairs = tmp_path / "pairs.csv"
    with pairs.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["image", "label"])
        writer.writerow([str(image), str(data / "masks" / "case_000.png")])
        writer.writerow([str(data / "images" / "case_001.png"), "data/masks/case_001.png"])
    command = ["train", "--data", str(pairs), "--out", str(out), "--epochs", "1", "--quiet"]
    line = refused(capsys, [*command, "--size", "32", "32"], out, data)
    assert f"{image}: would overwrite the input {image}" in line


@pytest.mark.parametrize("held", ["run", "data"])
def test_demo_into_a_folder_with_a_run_or_data(run, data, tmp_path, capsys, held):
    out = tmp_path / "demo"
    shutil.copytree(run if held == "run" else data, out / held)
    line = refused(capsys, ["demo", "--out", str(out), "--epochs", "1"], out)
    assert f"{out}: already holds a demo run or its files ({out / held})" in line
