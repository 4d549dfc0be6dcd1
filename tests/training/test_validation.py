"""Validation during training: consecutive samples of one shape are batched and their sliding
windows share model calls, and the Dice is what each case gets alone from the run's seed."""

import numpy as np
import pytest
import torch

from ldseg.evaluation.metrics import class_statistics, dice_iou
from ldseg.inference import Predictor
from ldseg.models import build_model
from ldseg.training.validation import validate
from tests.helpers import tiny_config


def sample(shape: tuple[int, ...], seed: int, num_classes: int = 3) -> dict:
    rng = np.random.default_rng(seed)
    mask = torch.from_numpy(rng.integers(0, num_classes, (1, *shape)))
    return {"image": torch.rand(1, *shape), "mask": mask, "stem": f"case_{seed}"}


@pytest.mark.parametrize("name", ["ldseg", "resunet"])
def test_validation_batches_windows_and_scores_each_case_as_alone(name):
    """Two volumes' slices at native grids (24 x 20, then 20 x 28) with 16 x 16 windows: the
    Dice equals a recomputation one case at a time from the run's seed, and the windows of a
    grid's slices go through the model together."""
    torch.manual_seed(0)
    config = tiny_config(size=(16, 16))
    config.model.name, config.model.in_channels = name, 1
    config.data.resize = False
    config.train.seed = 3
    model = build_model(config).eval()
    samples = [sample((24, 20), i) for i in range(3)] + [sample((20, 28), i) for i in (3, 4)]
    calls = []
    original = model.sample
    model.sample = lambda x, *a, **k: calls.append(len(x)) or original(x, *a, **k)
    found = validate(model, samples, config, batch_size=8)
    assert calls == [3] * 4 + [2] * 4  # each grid's 4 windows, one call per window position
    model.sample = original
    pipeline = Predictor(model, config).pipeline()
    alone = []
    for case in samples:
        probs, _ = pipeline(case["image"][None], seeds=[3])
        alone.append(dice_iou(probs.argmax(1)[0].numpy(), case["mask"][0].numpy(), 3)[0])
    np.testing.assert_allclose(found, class_statistics(alone)[0], atol=1e-6)
