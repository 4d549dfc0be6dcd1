"""Fixtures for training tests."""

import pytest
import torch


@pytest.fixture(scope="module")
def one_thread():
    """Train in this process on one thread, as the test subprocesses do (OMP_NUM_THREADS=1):
    convolutions then round alike and runs in either place compare closely."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
