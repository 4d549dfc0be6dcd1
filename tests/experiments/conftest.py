"""A small test set shared by the experiment tests (the tiny trained run is in tests/conftest.py).

The tests here run torch on one thread (``one_thread``): no test here measures speed.
"""

import pytest

from tests.helpers import one_thread, tiny_dataset


@pytest.fixture(autouse=True)
def _one_thread():
    with one_thread():
        yield


@pytest.fixture(scope="session")
def test_data(tmp_path_factory):
    """Four cases at 40 x 36, a size the run was not trained at (predictions are resized)."""
    return tiny_dataset(tmp_path_factory.mktemp("test") / "data", 4, size=(40, 36), seed=1)
