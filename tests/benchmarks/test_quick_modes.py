"""Every benchmark's ``--quick`` mode runs and writes a complete results file."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest
from PIL import Image

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_speed_quick(tmp_path):
    record = load("speed").main(["--quick", "--out", str(tmp_path)])
    assert json.loads((tmp_path / "speed_quick.json").read_text()) == record
    rows = record["results"]["rows"]
    assert {r["model"] for r in rows} == {"ldseg", "resunet", "unet", "pixel-diffusion"}
    assert all(r["median_s"] > 0 and r["parameters"] > 0 for r in rows)
    ratios = record["results"]["ratios"]  # no speed is asserted: timings are the benchmark's
    assert set(ratios) == {"ldseg/resunet at [128, 128]", "pixel-diffusion/ldseg at [128, 128]"}
    assert all(value > 0 for value in ratios.values())
    assert record["results"]["training_images_per_s"]["ldseg"] > 0
    with Image.open(tmp_path / "speed_quick.png") as picture:
        assert picture.size[0] > 500


@pytest.mark.parametrize(
    ("dataset", "models", "classes"),
    [("camus", "ldseg,resunet,unet", 4), ("kvasir", "ldseg", 2), ("acdc", "ldseg", 4)],
)
def test_accuracy_quick(shared_data, tmp_path, dataset, models, classes):
    out = tmp_path / "accuracy.json"
    args = ["--dataset", dataset, "--models", models, "--quick", "--out", str(out)]
    record = load("accuracy").main(args)
    assert json.loads(out.read_text()) == record
    rows = record["results"]["rows"]
    assert [r["model"] for r in rows] == models.split(",")
    for row in rows:
        assert len(row["dice"]) == classes and row["num_cases"] == 4 and row["epochs"] >= 1
        assert 0 <= row["dice"][0] <= 1 and row["seconds_per_image"] > 0


def test_memory_quick(tmp_path):
    record = load("memory").main(["--quick", "--out", str(tmp_path)])
    assert json.loads((tmp_path / "memory_quick.json").read_text()) == record
    rows = record["results"]["rows"]
    assert [r["model"] for r in rows] == ["ldseg", "resunet", "unet"]
    for row in rows:
        assert row["mask_shape"] == [32, 32, 32] and row["seconds"] > 0
        assert row["process_peak_mib"] > row["above_loaded_mib"] >= 0


def test_memory_training_quick(tmp_path):
    record = load("memory").main(["--training", "--quick", "--out", str(tmp_path)])
    assert json.loads((tmp_path / "memory_training_quick.json").read_text()) == record
    rows = record["results"]["rows"]
    assert [r["cache"] for r in rows] == ["memory", "lazy"]
    assert all(r["exit_code"] == 0 and r["process_peak_mib"] > 0 for r in rows)
    assert rows[1]["largest_reader_peak_mib"] > 0  # the reader processes of lazy cases


def test_accuracy_settings_change_the_preset():
    from ldseg.config import Config

    accuracy = load("accuracy")
    config = accuracy.with_settings(Config(), ["model.decoder_input=x0", "train.lr=0.003"])
    assert config.model.decoder_input == "x0" and config.train.lr == 0.003
    with pytest.raises(SystemExit, match=r"model\.nope"):
        accuracy.with_settings(Config(), ["model.nope=1"])


def test_ablation_variants_move_exactly_their_levers():
    ablation = load("ablation")
    paper = dict(s.split("=", 1) for s in ablation.variant_settings("paper", "camus"))
    assert paper["model.latent_factor"] == "[16, 16]" and paper["model.prediction"] == '"eps"'
    alone = dict(s.split("=", 1) for s in ablation.variant_settings("paper+v", "camus"))
    assert "model.prediction" not in alone and len(alone) == len(paper) - 1
    assert ablation.variant_settings("default-path", "camus") == ["model.sampling_path_share=0.0"]
    assert ablation.variant_settings("default", "camus") == []
    assert "model.latent_factor" not in dict(
        s.split("=", 1) for s in ablation.variant_settings("paper", "acdc")
    )
    sliced = dict(s.split("=", 1) for s in ablation.variant_settings("paper", "acdc-2d"))
    assert sliced["model.latent_factor"] == "[16, 16]" and "model.channels" not in sliced
    assert ablation.variant_settings("default-latent8", "acdc-2d") == [
        "model.latent_factor=[16, 16]"
    ]
    for bad in ("paper+nope", "other", "default-latent8"):
        if bad == "default-latent8":
            with pytest.raises(SystemExit, match="does not apply"):
                ablation.variant_settings(bad, "acdc")
        else:
            with pytest.raises(SystemExit):
                ablation.variant_settings(bad, "camus")


def test_ablation_quick(shared_data, tmp_path):
    out = tmp_path / "ablation.json"
    args = ["--dataset", "camus", "--quick", "--variants", "paper,default"]
    record = load("ablation").main([*args, "--baselines", "resunet", "--out", str(out)])
    assert json.loads(out.read_text()) == record
    assert [r["variant"] for r in record["rows"]] == ["paper", "default", "resunet"]
    assert record["rows"][0]["settings"] and record["rows"][1]["settings"] == []
    assert all(len(r["dice"]) == 4 and r["epochs"] >= 1 for r in record["rows"])


def test_train_step_quick(tmp_path):
    args = ["--quick", "--cases", "camus,acdc", "--out", str(tmp_path)]
    record = load("train_step").main(args)
    assert json.loads((tmp_path / "train_step_quick.json").read_text()) == record
    rows = record["rows"]
    assert [(r["case"], r["model"]) for r in rows] == [
        ("camus", "ldseg"),
        ("camus", "resunet"),
        ("acdc", "ldseg"),
        ("acdc", "resunet"),
    ]
    src = Path(__file__).resolve().parents[2] / "src"
    for row in rows:  # each step was timed with this tree's ldseg, at the quick shapes
        (run,) = row["after_runs"]
        assert row["after_s"] == run["median_s"] > 0 and len(run["times_s"]) == 2
        assert Path(run["ldseg_file"]).is_relative_to(src) and run["batch_size"] == 2
        assert run["size"] == [32] * (2 if row["case"] == "camus" else 3)


def test_train_step_settings(tmp_path):
    """``--set`` reaches the timed model; a wrong key fails loudly instead of timing the preset."""
    module = load("train_step")
    args = ["--quick", "--cases", "camus", "--models", "ldseg", "--out", str(tmp_path)]
    (preset,) = module.main(args)["rows"][0]["after_runs"]
    narrow = "model.channels=[8, 8, 8, 8, 8]"
    (run,) = module.main([*args, "--set", narrow])["rows"][0]["after_runs"]
    assert run["settings"] == [narrow] and preset["settings"] == []
    assert 0 < run["parameters"] < preset["parameters"]
    with pytest.raises(SystemExit, match=r"model\.no_such_key"):
        module.main([*args, "--set", "model.no_such_key=1"])
