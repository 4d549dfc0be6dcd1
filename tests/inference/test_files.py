"""Folder prediction in batches, read by worker processes, writes the one-at-a-time masks."""

import dataclasses

import numpy as np
import pytest
from PIL import Image

from ldseg.cli import main
from ldseg.data.readers import read_image
from ldseg.inference import Predictor


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Five images of two sizes (in an order that interleaves them) and one broken file."""
    root = tmp_path_factory.mktemp("batch") / "images"
    root.mkdir()
    rng = np.random.default_rng(0)
    for i, shape in enumerate([(32, 32), (48, 40), (32, 32), (48, 40), (32, 32)]):
        picture = (rng.random(shape) * 255).astype(np.uint8)
        Image.fromarray(picture).save(root / f"case{i}.png")
    (root / "case2_broken.png").write_bytes(b"not a png")
    return root


def masks(folder) -> dict[str, np.ndarray]:
    return {p.name: np.asarray(Image.open(p)) for p in sorted(folder.glob("*.png"))}


@pytest.mark.parametrize("resize", [True, False])  # without resizing, sizes form two groups
def test_batches_and_workers_give_the_single_image_masks(tiny_run, folder, tmp_path, resize):
    predictor = Predictor.from_run(tiny_run)
    if not resize:  # 32 x 32 sliding windows over each image's own size
        data = dataclasses.replace(predictor.config.data, resize=False)
        predictor = Predictor(predictor.model, dataclasses.replace(predictor.config, data=data))
    paths = sorted(folder.glob("*.png"))
    good = [p for p in paths if "broken" not in p.name]
    errors = []
    written = predictor.predict_files(
        paths, tmp_path / "batched", steps=3, batch_size=2, workers=2, on_error=errors.append
    )
    assert [p.name for p in written] == [p.name for p in good]  # input order
    assert len(errors) == 1 and "case2_broken.png" in str(errors[0])
    batched = masks(tmp_path / "batched")
    for path in good:
        single = predictor.predict_array(read_image(path)[0], steps=3).mask
        np.testing.assert_array_equal(batched[path.name], single)
    assert len({m.tobytes() for m in batched.values()}) == len(good)  # masks differ by image
    # Several samples per image: the mean's argmax, batched across images and samples.
    predictor.predict_files(good, tmp_path / "samples", samples=2, batch_size=3, workers=0)
    for name, mask in masks(tmp_path / "samples").items():
        single = predictor.predict_array(read_image(folder / name)[0], samples=2).mask
        np.testing.assert_array_equal(mask, single)


def test_cli_reports_images_per_second_and_strict_stops(tiny_run, folder, tmp_path, capsys):
    args = ["predict", "--run", str(tiny_run), "--input", str(folder), "--out", str(tmp_path)]
    assert main([*args, "--batch-size", "4", "--workers", "1"]) == 1  # the broken file
    out, err = capsys.readouterr()
    assert "wrote 5 of 6 masks" in out and "images/s, batch size 4, 1 workers" in out
    assert "skipped: " in err and "case2_broken.png" in err
    assert main([*args, "--strict"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("ldseg: error: ") and len(err.splitlines()) == 1
    with pytest.raises(SystemExit) as exit_info:  # refused where it is parsed
        main([*args, "--batch-size", "0"])
    assert exit_info.value.code == 2
    assert "argument --batch-size: must be at least 1" in capsys.readouterr().err
