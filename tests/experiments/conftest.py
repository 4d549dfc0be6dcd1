"""One tiny trained run and a small test set shared by the experiment tests.

The tests here run torch on one thread: on a shared 2-core machine two OpenMP threads that
compete with other processes made them up to 15 times slower (measured), and no test here
measures speed.
"""

from contextlib import contextmanager

import pytest
import torch

from ldseg.data.io import find_pairs
from ldseg.training.trainer import train
from tests.helpers import tiny_config, tiny_dataset


@contextmanager
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _one_thread():
    with one_thread():
        yield


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """Latent factor 4 and 30 short epochs: enough that masks depend on the image (5 s)."""
    root = tmp_path_factory.mktemp("experiments")
    data = tiny_dataset(root / "train", num_cases=12, size=(32, 32))
    config = tiny_config(epochs=30, lr=5e-3, ema_decay=0.9)
    config.model.channels = [8, 16, 8]
    with one_thread():
        train(config, find_pairs(data), None, root / "run", progress=False)
    return root / "run"


@pytest.fixture(scope="session")
def test_data(tmp_path_factory):
    """Four cases at 40 x 36, a size the run was not trained at (predictions are resized)."""
    return tiny_dataset(tmp_path_factory.mktemp("test") / "data", 4, size=(40, 36), seed=1)
