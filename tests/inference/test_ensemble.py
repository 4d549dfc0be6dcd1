"""Ensembles of runs: the mean of the members' probabilities (each its own mean over samples),
for every model; members that disagree are refused in one line naming both runs."""

import json

import numpy as np
import pytest
import torch

from ldseg.cli import main
from ldseg.errors import LDSegError
from ldseg.inference import Ensemble, Predictor
from ldseg.models import MODEL_NAMES
from tests.helpers import untrained_run, write_png

IMAGE = np.random.default_rng(3).random((32, 32), dtype=np.float32)


@pytest.mark.parametrize("name", MODEL_NAMES)
@pytest.mark.parametrize("samples", [1, 2])
def test_ensemble_is_the_mean_of_its_members(tmp_path, name, samples):
    torch.manual_seed(0)
    untrained_run(tmp_path / "a")
    torch.manual_seed(1)
    untrained_run(tmp_path / "b", model__name=name)
    members = [Predictor.from_run(tmp_path / r) for r in ("a", "b")]
    alone = [m.predict_array(IMAGE, seed=3, samples=samples).probabilities for m in members]
    assert np.abs(alone[0] - alone[1]).max() > 1e-3  # the members differ
    ensemble = Ensemble.from_runs([tmp_path / "a", tmp_path / "b"])
    together = ensemble.predict_array(IMAGE, seed=3, samples=samples)
    np.testing.assert_allclose(together.probabilities, (alone[0] + alone[1]) / 2, atol=1e-6)
    np.testing.assert_array_equal(together.mask, together.probabilities.argmax(0))
    assert (together.std is not None) == (samples > 1)


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("model__num_classes", 2, "model.num_classes 2 differs from 3"),
        ("data__intensity", "zscore", "data.intensity zscore differs from minmax"),
    ],
)
def test_members_that_disagree_are_refused_and_nothing_is_written(
    tmp_path, capsys, setting, value, message
):
    untrained_run(tmp_path / "a")
    untrained_run(tmp_path / "b", **{setting: value})
    image = write_png(tmp_path / "in" / "x.png", (IMAGE * 255).astype(np.uint8))
    with pytest.raises(LDSegError, match=message):
        Ensemble.from_runs([tmp_path / "a", tmp_path / "b"])
    args = ["predict", "--run", str(tmp_path / "a"), "--run", str(tmp_path / "b")]
    assert main([*args, "--input", str(image), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
    assert str(tmp_path / "a") in err and str(tmp_path / "b") in err
    assert not (tmp_path / "out").exists()


def test_predict_with_two_runs_records_both(tmp_path):
    torch.manual_seed(0)
    untrained_run(tmp_path / "a")
    untrained_run(tmp_path / "b")
    image = write_png(tmp_path / "in" / "x.png", (IMAGE * 255).astype(np.uint8))
    args = ["predict", "--run", str(tmp_path / "a"), "--run", str(tmp_path / "b")]
    assert main([*args, "--input", str(image), "--out", str(tmp_path / "out")]) == 0
    record = json.loads((tmp_path / "out" / "prediction.json").read_text())
    runs = [str((tmp_path / r).resolve()) for r in ("a", "b")]
    assert record["runs"] == runs and [m["run"] for m in record["members"]] == runs
    assert record["inputs"] == [{"input": str(image), "mask": "x.png"}]
