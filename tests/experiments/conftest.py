"""The experiment tests run torch on one thread (``one_thread``): no test here measures speed."""

import pytest

from tests.helpers import one_thread


@pytest.fixture(autouse=True)
def _one_thread():
    with one_thread():
        yield
