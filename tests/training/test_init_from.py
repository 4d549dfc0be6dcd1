import pytest
import torch

from ldseg.data.layouts import find_pairs
from ldseg.errors import LDSegError
from ldseg.models import build_model
from ldseg.runs import RunFolder
from ldseg.runs.weights import load_model_tensors, load_weights
from ldseg.training import train
from tests.helpers import tiny_config, tiny_dataset


def test_init_from_loads_the_run_weights_and_refuses_another_architecture(tmp_path):
    data = tiny_dataset(tmp_path / "data", num_cases=4, size=(32, 32))
    pairs = find_pairs(data)
    first = train(tiny_config(epochs=1), pairs, pairs[:2], tmp_path / "a", False).run_dir
    # lr ~0: the fine-tuned run's weights are the ones it started from
    tuned = train(
        tiny_config(epochs=1, lr=1e-12, seed=7), pairs, pairs[:2], tmp_path / "b", False, first
    ).run_dir
    config = RunFolder(first).load_config()
    start = build_model(config)
    load_model_tensors(start, load_weights(first / "best.safetensors"), first)
    after = load_weights(tuned / "last.safetensors")
    for key, value in start.named_parameters():  # parameters, not BatchNorm statistics
        torch.testing.assert_close(after[f"model.{key}"], value.detach())

    with pytest.raises(LDSegError, match="do not match"):
        train(tiny_config(num_classes=4, epochs=1), pairs, None, tmp_path / "c", False, first)
    assert not (tmp_path / "c").exists() or not any((tmp_path / "c").iterdir())
    with pytest.raises(LDSegError, match="--init-from"):
        train(tiny_config(epochs=1), pairs, None, tmp_path / "d", False, tmp_path / "none")
    assert not (tmp_path / "d").exists() or not any((tmp_path / "d").iterdir())
