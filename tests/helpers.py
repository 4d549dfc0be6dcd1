"""Tiny configurations and data for fast end-to-end tests, and image/volume file writers."""

import json
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path

import nibabel as nib
import numpy as np
import torch
from PIL import Image

from ldseg.config import Config, DataConfig, ModelConfig, TrainConfig
from ldseg.data.synthetic import write_synthetic_dataset


def tiny_config(size=(32, 32), num_classes=3, epochs=2, **train) -> Config:
    """A small LDSeg (about 60 k parameters) that trains in seconds."""
    return Config(
        model=ModelConfig(
            num_classes=num_classes,
            channels=[4, 8, 8, 8, 4],
            denoiser_channels=[8, 16],
            denoiser_attention=[False, True],
            num_heads=2,
        ),
        data=DataConfig(size=list(size)),
        train=TrainConfig(epochs=epochs, batch_size=4, val_every=1, **train),
    )


def tiny_dataset(root: Path, num_cases=8, size=(32, 32), num_classes=3, seed=0) -> Path:
    """Synthetic image/mask folders under ``root``."""
    return write_synthetic_dataset(root, num_cases, tuple(size), num_classes=num_classes, seed=seed)


def write_png(path: Path, array: np.ndarray) -> Path:
    """Save ``array`` as an image file (format from the suffix), creating its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def write_nifti(path: Path, array: np.ndarray, affine: np.ndarray | None = None) -> Path:
    """Save ``array`` as NIfTI with ``affine`` (identity by default), creating its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(array, np.eye(4) if affine is None else affine), path)
    return path


@contextmanager
def one_thread():
    """Run torch on one thread: on a shared 2-core machine two OpenMP threads that compete with
    other processes made tests up to 15 times slower (measured)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def untrained_run(folder: Path, size=(32, 32), in_channels: int = 1, **config_values) -> Path:
    """A run folder (config.json and best.safetensors) of an untrained tiny LDSeg: for tests
    about input and output handling, not accuracy. ``config_values``: ``"section.key"``
    spelled ``section__key``."""
    from ldseg.models import build_model
    from ldseg.runs.weights import model_tensors, save_weights

    config = tiny_config(size=size)
    config.model.in_channels = in_channels
    for name, value in config_values.items():
        section, key = name.split("__")
        setattr(getattr(config, section), key, value)
    config.validate("test run")
    config.save(folder / "config.json")
    save_weights(folder / "best.safetensors", model_tensors(build_model(config)), {})
    return folder


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (hidden ones included) by relative path, with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def patient_dataset(root: Path, patients=4, frames=2, size=(32, 32)) -> Path:
    """A synthetic dataset named like ACDC: ``patient001_frame01.png`` ... in images/, masks/."""
    data = tiny_dataset(root, num_cases=patients * frames, size=size)
    for index, image in enumerate(sorted((data / "images").iterdir())):
        name = f"patient{index // frames + 1:03d}_frame{index % frames + 1:02d}{image.suffix}"
        (data / "masks" / image.name).rename(data / "masks" / name)
        image.rename(data / "images" / name)
    return data


def train_folds(root: Path, patients: int, folds: int, trained: Sequence[int]) -> tuple[Path, list]:
    """A :func:`patient_dataset` of ``patients`` in ``root/data``, a 1-epoch tiny preset, and
    the folds ``trained`` of a ``folds``-fold split trained into ``root/fold<K>`` through the
    CLI; returns the data folder and the ``train`` arguments without the fold options."""
    from ldseg.cli import main

    data = patient_dataset(root / "data", patients=patients)
    preset = root / "tiny.json"
    preset.write_text(json.dumps(tiny_config(epochs=1).to_dict()))
    args = ["train", "--data", str(data), "--config", str(preset), "--quiet"]
    for fold in trained:
        options = ["--folds", str(folds), "--fold", str(fold), "--out", str(root / f"fold{fold}")]
        assert main([*args, *options]) == 0
    return data, args
