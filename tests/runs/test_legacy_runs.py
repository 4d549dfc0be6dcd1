"""Run folders written by an earlier ldseg (tests/fixtures/legacy_runs, see its README) load and
predict the masks and probabilities that ldseg predicted for them when they were written."""

import json
from pathlib import Path

import numpy as np
import pytest

from ldseg.cli import main
from ldseg.data.readers import read_channels
from ldseg.inference import Predictor
from tests.helpers import one_thread

LEGACY = Path(__file__).resolve().parents[1] / "fixtures" / "legacy_runs"
RUNS = sorted(p.name for p in LEGACY.iterdir() if p.is_dir())


def test_every_kind_of_legacy_run_is_kept():
    assert RUNS == [
        "ldseg-2d",
        "ldseg-3d-window",
        "ldseg-slicing",
        "paper-2d",
        "resunet-2d",
        "two-stage-2d",
    ]


@pytest.mark.parametrize("name", RUNS)
def test_legacy_run_predicts_what_it_predicted(name):
    run = LEGACY / name
    predictor = Predictor.from_run(run)
    expected = json.loads((run / "expected.json").read_text())
    with one_thread():
        for index, (file, record) in enumerate(sorted(expected.items())):
            image, meta = read_channels([run / "inputs" / file])
            prediction = predictor.predict_array(
                image, spacing=meta["spacing"], seed=record["seed"]
            )
            np.testing.assert_array_equal(
                prediction.mask, np.load(run / f"expected_mask_{index}.npy")
            )
            np.testing.assert_allclose(
                prediction.probabilities,
                np.load(run / f"expected_probabilities_{index}.npy"),
                atol=1e-5,
            )


@pytest.mark.parametrize("name", RUNS)
def test_legacy_run_predicts_through_the_cli(name, tmp_path):
    run = LEGACY / name
    expected = json.loads((run / "expected.json").read_text())
    first = sorted(expected)[0]
    assert expected[first]["seed"] == 0
    with one_thread():
        inputs = ["--input", str(run / "inputs" / first), "--out", str(tmp_path / "pred")]
        code = main(["predict", "--run", str(run), *inputs, "--workers", "0"])
    assert code == 0
    written = [p for p in (tmp_path / "pred").iterdir() if p.name != "prediction.json"]
    mask = read_channels(written)[0][0]
    np.testing.assert_array_equal(mask, np.load(run / "expected_mask_0.npy"))
