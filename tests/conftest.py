"""Shared fixtures: the real data in ../shared/data, skipped or required by LDSEG_REQUIRE_DATA."""

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of ../shared/data; skips when absent unless LDSEG_REQUIRE_DATA=1, then fails."""
    if SHARED_DATA.is_dir():
        return SHARED_DATA
    message = f"real data folder {SHARED_DATA} is absent"
    if os.environ.get("LDSEG_REQUIRE_DATA") == "1":
        pytest.fail(f"{message} and LDSEG_REQUIRE_DATA=1")
    pytest.skip(message)
