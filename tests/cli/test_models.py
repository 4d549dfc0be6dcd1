"""Every model through the command line: one epoch of training, prediction, and ``compare``."""

import json

import numpy as np
import pytest
import yaml
from PIL import Image

from ldseg.cli import main
from ldseg.data.readers import read_image
from ldseg.models import MODEL_NAMES
from tests.helpers import tiny_config, tiny_dataset

SIZES = {2: (32, 32), 3: (32, 32, 8)}


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    presets = {}
    for dims, factor in ((2, None), (3, [16, 16, 4])):
        model = {**tiny_config().to_dict()["model"], "latent_factor": factor}
        presets[dims] = root / f"tiny-{dims}d.yaml"
        data = {"size": list(SIZES[dims])}
        presets[dims].write_text(yaml.safe_dump({"model": model, "data": data}))
    data = {dims: tiny_dataset(root / f"{dims}d", 4, size) for dims, size in SIZES.items()}
    return root, presets, data


def train_and_predict(datasets, name, dims):
    root, presets, data = datasets
    run, pred = root / f"run-{name}-{dims}d", root / f"pred-{name}-{dims}d"
    args = ["train", "--data", str(data[dims]), "--out", str(run), "--model", name]
    args += ["--config", str(presets[dims]), "--size", *map(str, SIZES[dims]), "--classes", "3"]
    epochs = "2" if name == "two-stage" else "1"  # one epoch per stage
    assert main([*args, "--epochs", epochs, "--batch-size", "2", "--quiet"]) == 0
    recorded = json.loads((run / "config.json").read_text())["model"]
    assert recorded["name"] == name
    # the config records what was built: the default, or the keys these models fix
    built = {
        "ldseg": (8, True, 4),
        "ldseg-ld": (8, True, 1),
        "ldseg-id": (1, False, 4),
        "ldseg-ld-id": (1, False, 1),
        "two-stage": (8, False, 4),
    }
    if name in built:
        keys = ("image_latent_channels", "decoder_image_skips", "label_latent_channels")
        assert tuple(recorded[key] for key in keys) == built[name]
    args = ["predict", "--run", str(run), "--input", str(data[dims] / "images")]
    assert main([*args, "--out", str(pred), "--steps", "2"]) == 0
    return run, pred


@pytest.mark.parametrize("name", MODEL_NAMES)
@pytest.mark.parametrize("dims", [2, 3])
def test_every_model_trains_and_predicts(datasets, name, dims):
    _, _, data = datasets
    _, pred = train_and_predict(datasets, name, dims)
    images = sorted((data[dims] / "images").iterdir())
    masks = sorted(pred.glob("*.png") if dims == 2 else pred.glob("*.nii.gz"))
    assert [p.name for p in masks] == [p.name for p in images]
    for mask in masks:
        values = np.asarray(Image.open(mask)) if dims == 2 else read_image(mask)[0][0]
        assert values.shape == SIZES[dims] and values.max() <= 2


def test_compare_runs_in_one_process(datasets, tmp_path, capsys):
    _, _, data = datasets
    runs = [datasets[0] / f"run-{name}-2d" for name in ("ldseg", "resunet", "pixel-diffusion")]
    for run, name in zip(runs, ("ldseg", "resunet", "pixel-diffusion"), strict=True):
        if not run.exists():
            train_and_predict(datasets, name, 2)
    assert main(["compare", *map(str, runs), "--data", str(data[2]), "--out", str(tmp_path)]) == 0
    table = capsys.readouterr().out
    result = json.loads((tmp_path / "compare.json").read_text())
    assert [row["model"] for row in result["runs"]] == ["ldseg", "resunet", "pixel-diffusion"]
    assert [row["steps"] for row in result["runs"]] == [2, None, 2]
    for row in result["runs"]:
        assert len(row["dice"]) == 3 and row["seconds_per_image"] > 0 and row["parameters"] > 0
        assert row["model"] in table
    assert (tmp_path / "compare.md").read_text().startswith("| run | model |")
