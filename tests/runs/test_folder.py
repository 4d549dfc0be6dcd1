"""A run folder: what it holds, loading a model from it (the EMA copy, no pickle), and
refusing folders that are not runs, tampered configs and unsafe weights."""

import json
import pickle
import shutil

import pytest
import torch

from ldseg.errors import LDSegError, RunFolderError
from ldseg.inference import Predictor
from ldseg.runs import RunFolder
from ldseg.runs.weights import load_weights


def test_load_model_takes_the_ema_copy_of_its_target(tiny_run):
    model, config = RunFolder(tiny_run).load_model("last")
    tensors = load_weights(tiny_run / "last.safetensors")
    state = model.state_dict()
    assert model.ema_target == "denoiser" and config.model.name == "ldseg"
    ema = {k.removeprefix("ema."): v for k, v in tensors.items() if k.startswith("ema.")}
    assert ema and all(torch.equal(state[f"denoiser.{k}"], v) for k, v in ema.items())
    trained = {k: v for k, v in tensors.items() if k.startswith("model.label_encoder.")}
    assert all(torch.equal(state[k.removeprefix("model.")], v) for k, v in trained.items())
    assert any(
        not torch.equal(tensors[f"model.denoiser.{k}"], v) for k, v in ema.items()
    )  # the EMA differs from the trained denoiser, so the check above means something


def test_a_run_lists_its_files_and_refuses_to_be_overwritten(tiny_run, tmp_path):
    folder = RunFolder(tiny_run)
    for path in (folder.config_path, folder.metrics_path, folder.curves_path, folder.state_path):
        assert path.is_file() and path.parent == tiny_run
    with pytest.raises(LDSegError, match=r"already holds a run \(config\.json, best\.safetensors"):
        folder.check_new()
    RunFolder(tmp_path / "new").check_new()
    with pytest.raises(LDSegError, match="weights must be one of best, last"):
        folder.weights_path("final")
    with pytest.raises(RunFolderError, match=r"not found; is .* a run folder"):
        RunFolder(tmp_path).load_config()
    with pytest.raises(RunFolderError, match=r"no train_data\.json; not a run that ldseg train"):
        RunFolder(tmp_path).resume_state()


def test_refuses_pickled_weights(tiny_run, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(tiny_run, bad)
    (bad / "best.safetensors").write_bytes(pickle.dumps({"x": torch.zeros(1)}))
    with pytest.raises(RunFolderError, match="not a valid safetensors"):
        Predictor.from_run(bad)
    with pytest.raises(RunFolderError, match=r"must be a \.safetensors file"):
        load_weights(bad / "weights.pt")


def test_refuses_tampered_config(tiny_run, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(tiny_run, bad)
    raw = json.loads((bad / "config.json").read_text())
    raw["model"]["exec"] = "import os"
    (bad / "config.json").write_text(json.dumps(raw))
    with pytest.raises(RunFolderError, match="unknown key"):
        Predictor.from_run(bad)
    raw["model"].pop("exec")
    raw["model"]["num_classes"] = "3"
    (bad / "config.json").write_text(json.dumps(raw))
    with pytest.raises(RunFolderError, match="expected int"):
        Predictor.from_run(bad)
