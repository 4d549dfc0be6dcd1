"""Shared fixtures: the real data in ../shared/data, skipped or required by LDSEG_REQUIRE_DATA,
one tiny trained run and a small test set."""

import os
from pathlib import Path

import pytest

from ldseg.data.layouts import find_pairs
from ldseg.training import train
from tests.helpers import one_thread, tiny_config, tiny_dataset

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


@pytest.fixture(scope="session")
def test_data(tmp_path_factory):
    """Four cases at 40 x 36, a size the tiny run was not trained at (predictions are resized)."""
    return tiny_dataset(tmp_path_factory.mktemp("test") / "data", 4, size=(40, 36), seed=1)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """Latent factor 4 and 30 short epochs: enough that masks depend on the image (5 s)."""
    root = tmp_path_factory.mktemp("experiments")
    data = tiny_dataset(root / "train", num_cases=12, size=(32, 32))
    config = tiny_config(epochs=30, lr=5e-3, ema_decay=0.9)
    config.model.channels = [8, 16, 8]
    # The paper's one-channel image and shape latents, full-resolution first block and
    # skip-free decoder: with them this tiny run's masks differ by image and hold several
    # class-2 components, which the prediction and post-processing tests rely on.
    config.model.image_latent_channels = config.model.label_latent_channels = 1
    config.model.stem_stride, config.model.decoder_image_skips = 1, False
    with one_thread():
        train(config, find_pairs(data), None, root / "run", progress=False)
    return root / "run"


@pytest.fixture(scope="session")
def slicing_run(tmp_path_factory):
    """A tiny 2D LDSeg trained 1 epoch on the slices of three 24x20x6 volumes (3 s); its
    data is ``slicing_run.parent / "data"``."""
    root = tmp_path_factory.mktemp("slicing")
    data = tiny_dataset(root / "data", num_cases=3, size=(24, 20, 6))
    config = tiny_config(size=(16, 16), epochs=1)
    config.model.latent_factor = [4, 4]
    config.data.slicing = "2d"
    train(config, find_pairs(data), None, root / "run", progress=False)
    return root / "run"
