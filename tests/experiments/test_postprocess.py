"""``ldseg experiment postprocess``: the decision on a labelled set, at each case's own size,
written into the run folder (which it owns for that one file)."""

import json
import shutil

import pytest

from ldseg.cli import main
from ldseg.data.cases import dataset_cases
from ldseg.errors import LDSegError
from ldseg.evaluation.postprocess import decide_postprocessing
from ldseg.inference import Predictor
from ldseg.runs import RunFolder
from ldseg.runs.guard import check_outputs
from tests.helpers import snapshot


def test_postprocess_recomputes_the_decision_into_the_run(tiny_run, test_data, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    RunFolder(run).write_postprocessing({"keep_largest_component": [1, 2]})
    before = snapshot(run)
    out = tmp_path / "out"
    args = ["experiment", "postprocess", "--run", str(run), "--data", str(test_data)]
    assert main([*args, "--out", str(out)]) == 0
    predictor = Predictor.from_run(run, postprocess=False)
    cases = dataset_cases(test_data, predictor.config.data, "val")
    masks = [predictor.predict_array(c.image, spacing=c.spacing).mask for c in cases]
    expected = decide_postprocessing(masks, [c.mask for c in cases], 3)
    assert expected["cases"] == 4
    recorded = json.loads(RunFolder(run).postprocessing_path.read_text())
    assert recorded == expected | {"weights": "best"}
    assert json.loads((out / "results.json").read_text())["results"]["cases"] == 4
    after = snapshot(run)
    changed = {name for name in before if before[name] != after.get(name)}
    assert changed <= {"postprocessing.json"} and set(after) == set(before)


def test_the_guard_protects_a_runs_decision(tiny_run):
    with pytest.raises(LDSegError, match="would overwrite a file of the run folder"):
        check_outputs([tiny_run / "postprocessing.json"])
    check_outputs([tiny_run / "postprocessing.json"], own=[tiny_run])
