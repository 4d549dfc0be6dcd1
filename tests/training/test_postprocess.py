"""Training ends by deciding the largest-component post-processing on its validation cases (a
slice-wise run on its volumes), predicted as ``predict`` does with the best weights, and
records it in the run folder."""

import json

import numpy as np
import torch

from ldseg.data.adapter import CaseAdapter
from ldseg.data.cases import load_cases
from ldseg.data.layouts import find_pairs
from ldseg.evaluation.postprocess import decide_postprocessing
from ldseg.inference import Predictor
from ldseg.runs import RunFolder
from ldseg.training import train
from ldseg.training.postprocess import record_postprocessing
from tests.helpers import tiny_config, tiny_dataset, untrained_run


def test_training_records_the_decision_of_its_validation_cases(tiny_run):
    folder = RunFolder(tiny_run)
    recorded = json.loads(folder.postprocessing_path.read_text())
    config = folder.load_config()
    val = load_cases(folder.data_lists()[1], config.data, 1, 3, progress=False)[0]
    predictor = Predictor.from_run(tiny_run, postprocess=False)
    masks = [predictor.predict_array(case["image"].numpy()).mask for case in val]
    truths = [case["mask"][0].numpy() for case in val]
    assert recorded == decide_postprocessing(masks, truths, 3) | {"weights": "best"}
    assert recorded["cases"] == len(val) == 2
    assert Predictor.from_run(tiny_run).keep_largest == recorded["keep_largest_component"]


def test_no_validation_cases_no_decision(tmp_path):
    data = tiny_dataset(tmp_path / "data", num_cases=3)
    config = tiny_config(epochs=1)
    config.data.val_fraction = 0
    train(config, find_pairs(data), None, tmp_path / "run", progress=False)
    assert not RunFolder(tmp_path / "run").postprocessing_path.exists()
    assert Predictor.from_run(tmp_path / "run").keep_largest == []


def test_native_grids_of_different_sizes_are_predicted_one_at_a_time(tmp_path):
    """A run without ``data.resize`` keeps each case's grid: the cases cannot be stacked."""
    folder = RunFolder(untrained_run(tmp_path / "run", data__resize=False))
    generator = torch.Generator().manual_seed(0)
    cases = [
        {"image": torch.rand(1, *shape, generator=generator), "mask": mask, "stem": str(shape)}
        for shape in ((40, 36), (32, 48))
        for mask in [torch.randint(0, 3, (1, *shape), generator=generator)]
    ]
    record_postprocessing(folder, cases, torch.device("cpu"))
    assert json.loads(folder.postprocessing_path.read_text())["cases"] == 2


def test_a_slice_wise_run_decides_on_its_volumes(tmp_path):
    """``predict`` post-processes a slice-wise run's volumes whole, so the decision stacks the
    validation slices back: two volumes of 3 and 2 slices are 2 cases, of 3 and 2 planes."""
    folder = RunFolder(untrained_run(tmp_path / "run", data__resize=False, data__slicing="2d"))
    generator = torch.Generator().manual_seed(0)
    stems = ["patient001_frame01_z00", "patient001_frame01_z01", "patient001_frame01_z02"]
    stems += ["patient002_frame01_z00", "patient002_frame01_z01"]
    cases = [
        {"image": torch.rand(1, 32, 32, generator=generator), "mask": mask, "stem": stem}
        for stem in stems
        for mask in [torch.randint(0, 3, (1, 32, 32), generator=generator)]
    ]
    config = folder.load_config()
    volumes = list(CaseAdapter(config.data, 1).sample_cases(cases))
    assert [v.shape for v in volumes] == [(32, 32, 3), (32, 32, 2)]
    assert [v.stem for v in volumes] == ["patient001_frame01", "patient002_frame01"]
    np.testing.assert_array_equal(volumes[1].mask[..., 0], cases[3]["mask"][0].numpy())
    record_postprocessing(folder, cases, torch.device("cpu"))
    assert json.loads(folder.postprocessing_path.read_text())["cases"] == 2
