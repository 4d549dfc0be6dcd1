"""Bad input through the command line: one line naming the file and the problem, exit 1, no
traceback (unless ``--debug``), and nothing partial left behind: no run folder after a failed
``train``, no mask for a bad file and no temporary file after ``predict``."""

import json
import re
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ldseg.cli import main
from ldseg.errors import DataError
from ldseg.models import build_model
from ldseg.runs.weights import model_tensors, save_weights
from tests.helpers import tiny_config, write_nifti, write_png

RNG = np.random.default_rng(0)
SIZE = (32, 32)
VOLUME = (32, 32, 16)  # divisible by the latent factor 16


nifti = partial(write_nifti, affine=np.diag([0.8, 0.8, 3.0, 1.0]))


def grey(shape=SIZE) -> np.ndarray:
    return RNG.integers(0, 256, shape, dtype=np.uint8)


def labels(shape=SIZE, high=3) -> np.ndarray:
    return RNG.integers(0, high, shape, dtype=np.uint8)


def volume() -> np.ndarray:
    return RNG.random(VOLUME, dtype=np.float32)


def good_pairs(root: Path, volumes: bool = False, stems=("a", "c", "d")) -> Path:
    """Valid pairs under ``root/images`` and ``root/masks``: 2D PNG or 3D NIfTI."""
    for stem in stems:
        if volumes:
            nifti(root / "images" / f"{stem}.nii.gz", volume())
            nifti(root / "masks" / f"{stem}.nii.gz", labels(VOLUME))
        else:
            write_png(root / "images" / f"{stem}.png", grey())
            write_png(root / "masks" / f"{stem}.png", labels())
    return root


# Bad image files, each named b.* so that it sorts between good files a.* and c.*


def corrupt_png(folder: Path) -> Path:
    path = folder / "b.png"
    path.write_bytes(RNG.bytes(300))
    return path


def truncated_nifti(folder: Path) -> Path:
    path = nifti(folder / "b.nii.gz", volume())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def non_finite_nifti(value: float) -> Callable[[Path], Path]:
    def write(folder: Path) -> Path:
        array = volume()
        array[3, 4, 5] = value
        return nifti(folder / "b.nii.gz", array)

    return write


def zero_byte_png(folder: Path) -> Path:
    path = folder / "b.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def zero_size_nifti(folder: Path) -> Path:
    return nifti(folder / "b.nii.gz", np.zeros((0, 32, 16), np.float32))


def text_file(folder: Path) -> Path:
    path = folder / "b.txt"
    path.write_text("scanned on Tuesday\n")
    return path


# (name, writer, whether the good files beside it are volumes, the problem in the message)
IMAGE_CASES = [
    ("corrupt PNG", corrupt_png, False, r"cannot read \(UnidentifiedImageError"),
    ("truncated .nii.gz", truncated_nifti, True, r"cannot read \(EOFError: Compressed file"),
    ("NaN intensity", non_finite_nifti(np.nan), True, "contains NaN or infinite values"),
    ("inf intensity", non_finite_nifti(np.inf), True, "contains NaN or infinite values"),
    ("0-byte file", zero_byte_png, False, r"empty file \(0 bytes\)"),
    ("0-size NIfTI array", zero_size_nifti, True, r"empty image \(no pixels\)"),
    ("non-image file", text_file, False, r"unsupported file type \(expected \.png"),
]


def image_case_dataset(root: Path, write: Callable, volumes: bool) -> Path:
    """Good pairs and the bad image ``b`` with a valid mask (none for a non-image file)."""
    good_pairs(root, volumes)
    bad = write(root / "images")
    if volumes:
        nifti(root / "masks" / "b.nii.gz", labels(VOLUME))
    elif bad.suffix != ".txt":
        write_png(root / "masks" / "b.png", labels())
    return bad


def shape_mismatch(root: Path) -> tuple[list[str], str]:
    good_pairs(root)
    write_png(root / "images" / "b.png", grey())
    write_png(root / "masks" / "b.png", labels((30, 32)))
    return [], r"masks/b\.png: mask shape \(30, 32\) differs from image shape \(32, 32\)"


def geometry_mismatch(root: Path) -> tuple[list[str], str]:
    good_pairs(root, volumes=True)
    nifti(root / "images" / "b.nii.gz", volume())
    shifted = np.diag([0.8, 0.8, 3.0, 1.0])
    shifted[:3, 3] = [5.0, 0.0, 0.0]
    nifti(root / "masks" / "b.nii.gz", labels(VOLUME), affine=shifted)
    return [], r"masks/b\.nii\.gz: geometry \(spacing, origin or direction\) differs from image"


def label_outside_classes(root: Path) -> tuple[list[str], str]:
    good_pairs(root)
    write_png(root / "images" / "b.png", grey())
    write_png(root / "masks" / "b.png", labels(high=6))
    return ["--classes", "3"], (
        r"masks/b\.png: label values \[0, 1, 2, 3, 4, 5\] outside the declared classes 0\.\.2"
    )


def grey_and_rgb(root: Path) -> tuple[list[str], str]:
    good_pairs(root)
    write_png(root / "images" / "b.png", RNG.integers(0, 256, (*SIZE, 3), dtype=np.uint8))
    write_png(root / "masks" / "b.png", labels())
    return [], r"images/b\.png: has 3 channels, "


def nnunet_missing_channel(root: Path) -> tuple[list[str], str]:
    meta = {
        "channel_names": {"0": "T1", "1": "T2"},
        "labels": {"background": 0, "tumour": 1},
        "numTraining": 2,
        "file_ending": ".nii.gz",
    }
    root.mkdir(parents=True)
    (root / "dataset.json").write_text(json.dumps(meta))
    for case, channels in (("a", 2), ("b", 1)):
        for c in range(channels):
            nifti(root / "imagesTr" / f"{case}_{c:04d}.nii.gz", volume())
        nifti(root / "labelsTr" / f"{case}.nii.gz", labels(VOLUME, 2))
    return [], r"imagesTr: case b has channel files \[0\], dataset.json declares 2 channel"


def empty_folders(root: Path) -> tuple[list[str], str]:
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    return [], r"images: no image files"


PAIR_CASES = [
    ("image/mask shape mismatch", shape_mismatch),
    ("image/mask geometry mismatch", geometry_mismatch),
    ("label outside the classes", label_outside_classes),
    ("grey and RGB images", grey_and_rgb),
    ("nnU-Net case missing a channel", nnunet_missing_channel),
    ("empty folder", empty_folders),
]


def error_line(capsys) -> str:
    """stderr of a failed command: exactly one line, without a traceback."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("ldseg: error: ")
    return lines[0]


def train(data: Path, out: Path, *extra: str) -> int:
    size = VOLUME if any(p.name.endswith(".nii.gz") for p in data.rglob("*")) else SIZE
    args = ["train", "--data", str(data), "--out", str(out), "--epochs", "1", "--quiet"]
    return main([*args, "--size", *map(str, size), *extra])


def check_data(data: Path, *extra: str) -> int:
    return main(["check-data", str(data), "--quiet", *extra])


def assert_check_data_fails(capsys, data: Path, problem: str, *extra: str) -> None:
    """check-data exits 1 and lists the problem (or stops at it, for a set it cannot pair)."""
    assert check_data(data, *extra) == 1
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    listed = [line for line in out.splitlines() if line.startswith("problem: ")]
    listed += [line for line in err.splitlines() if line.startswith("ldseg: error: ")]
    assert len(listed) == 1 and re.search(problem, listed[0]), out + err
    assert not re.search(r"^usable:", out, re.MULTILINE)


@pytest.mark.parametrize(
    ("write", "volumes", "problem"), [c[1:] for c in IMAGE_CASES], ids=[c[0] for c in IMAGE_CASES]
)
def test_bad_image_in_train_and_check_data(tmp_path, capsys, write, volumes, problem):
    data = tmp_path / "data"
    bad = image_case_dataset(data, write, volumes)
    assert_check_data_fails(capsys, data, rf"{re.escape(str(bad))}: {problem}")
    assert train(data, tmp_path / "run") == 1
    assert re.fullmatch(rf"ldseg: error: {re.escape(str(bad))}: {problem}.*", error_line(capsys))
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("make", [c[1] for c in PAIR_CASES], ids=[c[0] for c in PAIR_CASES])
def test_bad_pair_in_train_and_check_data(tmp_path, capsys, make):
    data = tmp_path / "data"
    extra, problem = make(data)
    assert_check_data_fails(capsys, data, problem, *extra)
    assert train(data, tmp_path / "run", *extra) == 1
    line = error_line(capsys)
    if make is grey_and_rgb:  # train stops at the first image that differs from the first one
        problem = r"images/b\.png: has 3 channels, a\.png has 1"
    assert re.search(problem, line), line
    assert not (tmp_path / "run").exists()


def test_debug_shows_the_traceback(tmp_path):
    data = tmp_path / "data"
    shape_mismatch(data)
    with pytest.raises(DataError, match=r"mask shape \(30, 32\)"):
        main(["--debug", "train", "--data", str(data), "--out", str(tmp_path / "run")])
    assert not (tmp_path / "run").exists()


def make_run(folder: Path, in_channels: int = 1) -> Path:
    """A run folder (config.json and best.safetensors) of an untrained tiny LDSeg at 32x32:
    these tests are about input handling, not accuracy, so no training is needed."""
    config = tiny_config(size=SIZE)
    config.model.in_channels = in_channels
    config.validate("test run")
    config.save(folder / "config.json")
    save_weights(folder / "best.safetensors", model_tensors(build_model(config)), {})
    return folder


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    return make_run(tmp_path_factory.mktemp("bad_input") / "run")


def listing(folder: Path) -> list[str]:
    """Every file name in ``folder``, hidden temporaries included; [] when it does not exist."""
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def predict(run: Path, inputs: Path, out: Path, *extra: str) -> int:
    args = ["predict", "--run", str(run), "--input", str(inputs), "--out", str(out)]
    return main([*args, "--workers", "0", *extra])


def assert_skipped(capsys, bad: Path, problem: str) -> None:
    """One ``skipped`` line naming the bad file and its problem, then the failure summary."""
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    assert err.strip().splitlines() == [
        err.strip().splitlines()[0],
        "ldseg: error: 1 file(s) failed, listed above",
    ]
    assert re.fullmatch(rf"ldseg: skipped: {re.escape(str(bad))}: {problem}.*", err.splitlines()[0])
    assert re.search(r"wrote 2 of 3 masks", out)


def good_inputs(folder: Path, channels: int = 1) -> None:
    for stem in ("a", "c"):
        write_png(folder / f"{stem}.png", grey((*SIZE, 3) if channels == 3 else SIZE))


@pytest.mark.parametrize(
    ("write", "problem"), [(c[1], c[3]) for c in IMAGE_CASES], ids=[c[0] for c in IMAGE_CASES]
)
def test_predict_skips_a_bad_file_or_stops_with_strict(run, tmp_path, capsys, write, problem):
    inputs = tmp_path / "in"
    good_inputs(inputs)
    bad = write(inputs)
    assert predict(run, inputs, tmp_path / "out") == 1
    assert_skipped(capsys, bad, problem)
    # No mask for b, no temporary file; the record names b's problem.
    assert listing(tmp_path / "out") == ["a.png", "c.png", "prediction.json"]
    record = json.loads((tmp_path / "out" / "prediction.json").read_text())
    entries = {Path(entry["input"]).name: entry for entry in record["inputs"]}
    assert entries["a.png"]["mask"] == "a.png" and re.match(
        problem, entries[bad.name]["error"][len(str(bad)) + 2 :]
    )

    assert predict(run, inputs, tmp_path / "strict", "--strict") == 1
    assert re.fullmatch(rf"ldseg: error: {re.escape(str(bad))}: {problem}.*", error_line(capsys))
    assert listing(tmp_path / "strict") in ([], ["a.png"])  # stopped at b: no b, nothing after


def test_predict_reports_a_channel_count_the_run_cannot_take(tmp_path, capsys):
    rgb_run = make_run(tmp_path / "rgb_run", in_channels=3)
    inputs = tmp_path / "in"
    good_inputs(inputs, channels=3)
    bad = write_png(inputs / "b.png", grey())
    assert predict(rgb_run, inputs, tmp_path / "out", "--workers", "2") == 1  # read in workers
    assert_skipped(capsys, bad, "image has 1 channels, the model expects 3")
    assert listing(tmp_path / "out") == ["a.png", "c.png", "prediction.json"]


def test_predict_on_an_empty_folder(run, tmp_path, capsys):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / ".DS_Store").write_bytes(b"\0")  # hidden files do not count
    assert predict(run, tmp_path / "in", tmp_path / "out") == 1
    assert error_line(capsys) == f"ldseg: error: {tmp_path / 'in'}: no image files"
    assert not (tmp_path / "out").exists()


def test_a_crash_while_writing_leaves_no_mask(run, tmp_path, capsys, monkeypatch):
    inputs = tmp_path / "in"
    good_inputs(inputs)

    def crash(self, path, *args, **kwargs):
        Path(path).write_bytes(b"\x89PNG half a mask")
        raise KeyboardInterrupt

    monkeypatch.setattr(Image.Image, "save", crash)
    assert predict(run, inputs, tmp_path / "out") == 130
    assert capsys.readouterr().err.strip() == "ldseg: interrupted"
    assert listing(tmp_path / "out") == []

    def disk_full(self, path, *args, **kwargs):
        Path(path).write_bytes(b"\x89PNG half a mask")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", disk_full)
    assert predict(run, inputs, tmp_path / "full") == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"ldseg: skipped: {tmp_path / 'full' / 'a.png'}: cannot write (No space left" in err
    assert listing(tmp_path / "full") == ["prediction.json"]  # no mask, whole or partial
