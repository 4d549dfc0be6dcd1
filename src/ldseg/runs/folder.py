"""A run folder: the one place that knows its files, writes them and loads a model from them.

| file | contents |
|---|---|
| ``config.json`` | the whole :class:`~ldseg.config.Config`, validated on load |
| ``best.safetensors``, ``last.safetensors`` | the model and the EMA copy of its ``ema_target`` |
| ``metrics.csv``, ``curves.png`` | loss terms and validation Dice per epoch |
| ``train_state.safetensors``, ``train_data.json`` | what ``--resume`` continues from |
| ``postprocessing.json`` | the classes whose largest connected component alone ``predict`` keeps |
| ``splits.json`` | a cross-validation run's folds (``ldseg.data.folds``) |
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from torch import nn

from ldseg.config import Config
from ldseg.data.folds import Splits, read_splits, unique_stems
from ldseg.data.pairing import Pair
from ldseg.errors import LDSegError, RunFolderError
from ldseg.models import Segmenter, build_model
from ldseg.runs.state import (
    STATE_FORMAT,
    Progress,
    file_sha256,
    read_data_list,
    read_progress,
    write_data_list,
)
from ldseg.runs.weights import load_model_tensors, load_weights, model_tensors, save_weights
from ldseg.utils import atomic_write_text, stale_temporaries

WEIGHTS = ("best", "last")
WEIGHTS_FORMAT = "ldseg-1"


class RunFolder:
    """The files of one training run (see the module docstring), by name.

    Example::

        model, config = RunFolder("runs/camus").load_model("best")
    """

    CONFIG = "config.json"
    METRICS = "metrics.csv"
    CURVES = "curves.png"
    STATE = "train_state.safetensors"
    DATA = "train_data.json"
    POSTPROCESSING = "postprocessing.json"
    SPLITS = "splits.json"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.config_path = self.path / self.CONFIG
        self.metrics_path = self.path / self.METRICS
        self.curves_path = self.path / self.CURVES
        self.state_path = self.path / self.STATE
        self.data_path = self.path / self.DATA
        self.postprocessing_path = self.path / self.POSTPROCESSING
        self.splits_path = self.path / self.SPLITS

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    def weights_path(self, weights: str = "best") -> Path:
        """``best.safetensors`` or ``last.safetensors``."""
        if weights not in WEIGHTS:
            raise LDSegError(f"weights must be one of {', '.join(WEIGHTS)}, got {weights!r}")
        return self.path / f"{weights}.safetensors"

    # A new run

    def check_new(self) -> None:
        """Refuse a folder that already holds a run (nothing gets overwritten)."""
        names = [self.CONFIG, *(f"{w}.safetensors" for w in WEIGHTS), self.METRICS]
        names += [self.STATE, self.DATA, self.SPLITS]
        existing = [n for n in names if (self.path / n).exists()]
        if existing:
            raise LDSegError(
                f"{self.path}: already holds a run ({', '.join(existing)}); choose another --out "
                "(or continue it with --resume)"
            )

    def start(
        self,
        config: Config,
        train: Sequence[Pair],
        val: Sequence[Pair],
        splits: Splits | None = None,
        data_root: Path | None = None,
    ) -> Progress:
        """Write ``config.json``, ``train_data.json`` (paths relative to ``data_root``) and a
        cross-validation run's ``splits.json``; the empty progress that records their digests."""
        self.path.mkdir(parents=True, exist_ok=True)
        config.save(self.config_path)
        write_data_list(self.data_path, list(train), list(val), data_root)
        if splits is not None:
            atomic_write_text(self.splits_path, json.dumps(splits, indent=1) + "\n")
        return Progress(
            config_sha256=file_sha256(self.config_path), data_sha256=file_sha256(self.data_path)
        )

    # Reading

    def load_config(self) -> Config:
        """The run's validated ``config.json`` (channels and classes resolved)."""
        if not self.config_path.is_file():
            raise RunFolderError(f"{self.config_path}: not found; is {self.path} a run folder?")
        try:
            config = Config.load(self.config_path)
        except LDSegError as err:
            raise RunFolderError(str(err)) from None
        if not (config.model.in_channels and config.model.num_classes):
            raise RunFolderError(f"{self.config_path}: in_channels and num_classes must be set")
        return config

    def load_model(self, weights: str = "best") -> tuple[Segmenter, Config]:
        """The model with its ``weights`` (the EMA copy in its ``ema_target``), and its config."""
        config = self.load_config()
        model = build_model(config)
        path = self.weights_path(weights)
        load_model_tensors(model, load_weights(path), path)
        return model, config

    def postprocessing(self, weights: str = "best") -> list[int]:
        """The classes whose largest connected component alone prediction with ``weights``
        keeps, 0 standing for all foreground as one region (``postprocessing.json``; none
        without the file, or when it was decided with the other weights)."""
        path = self.postprocessing_path
        if not path.is_file():
            return []
        num_classes = self.load_config().model.num_classes
        try:
            record = json.loads(path.read_text())
            classes, decided_with = record["keep_largest_component"], record.get("weights", "best")
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
            raise RunFolderError(f"{path}: unreadable ({err})") from None
        if decided_with != weights:
            return []
        valid = isinstance(classes, list) and all(type(c) is int for c in classes)
        if not valid or not set(classes) <= set(range(num_classes)):
            raise RunFolderError(
                f"{path}: keep_largest_component must list classes 0..{num_classes - 1} "
                f"(0: all foreground as one region), got {classes!r}"
            )
        return sorted(classes)

    def data_lists(self, data_root: Path | None = None) -> tuple[list[Pair], list[Pair]]:
        """The training and validation pairs the run was started with, under ``data_root`` in
        place of the recorded data root when given (data that moved)."""
        return read_data_list(self.data_path, data_root)

    def load_splits(self, data_root: Path | None = None) -> Splits:
        """A cross-validation run's ``splits.json``, checked against its cases."""
        if not self.splits_path.is_file():
            raise RunFolderError(f"{self.path}: no {self.SPLITS}; not a run of ldseg train --folds")
        train, val = self.data_lists(data_root)
        return read_splits(self.splits_path, unique_stems([*train, *val]))

    def resume_state(self) -> tuple[Config, Progress]:
        """The config and progress to continue from; refuses runs that were not started by
        ``ldseg train``, finished runs, and a ``config.json`` or data list changed since."""
        if not self.data_path.is_file():
            raise RunFolderError(f"{self.path}: no {self.DATA}; not a run that ldseg train started")
        config = self.load_config()
        if self.state_path.exists():
            state = read_progress(self.state_path)
        elif self.weights_path("last").exists():
            raise RunFolderError(f"{self.state_path}: missing; this run cannot be resumed")
        else:  # killed in its first epoch
            state = Progress(
                config_sha256=file_sha256(self.config_path),
                data_sha256=file_sha256(self.data_path),
            )
        recorded = ((self.config_path, state.config_sha256), (self.data_path, state.data_sha256))
        for path, digest in recorded:
            if file_sha256(path) != digest:
                raise RunFolderError(
                    f"{path}: changed since training started (it does not match {self.STATE}); "
                    "refusing to resume"
                )
        if state.finished:
            raise RunFolderError(
                f"{self.path}: training finished at epoch {state.epoch} of {config.train.epochs}; "
                "nothing to resume"
            )
        return config, state

    def extend(self, epochs: int) -> None:
        """Let a finished run train on to ``epochs`` in all: ``config.json`` (train.epochs) and
        the training state (its config digest, the finished flag) rewritten atomically."""
        config = self.load_config()
        if not self.state_path.is_file():
            raise RunFolderError(f"{self.state_path}: missing; this run cannot be extended")
        state = read_progress(self.state_path)
        if file_sha256(self.config_path) != state.config_sha256:
            raise RunFolderError(f"{self.config_path}: changed since training started")
        if epochs <= state.epoch:
            raise LDSegError(
                f"--epochs {epochs}: must exceed the {state.epoch} epochs {self.path} has done"
            )
        config.train.epochs = epochs
        config.save(self.config_path)
        state.config_sha256, state.finished = file_sha256(self.config_path), False
        metadata = {"format": STATE_FORMAT, "progress": json.dumps(asdict(state))}
        save_weights(self.state_path, load_weights(self.state_path), metadata)

    # Writing during training

    def remove_temporaries(self) -> None:
        """Delete what a killed process left half written (never a finished file)."""
        for path in stale_temporaries(self.path):
            path.unlink()

    def save_weights(self, model: nn.Module, ema: nn.Module | None, epoch: int, best: bool) -> None:
        """``last.safetensors`` of ``epoch``, and ``best.safetensors`` when it is the best."""
        tensors = model_tensors(model, ema)
        metadata = {"epoch": str(epoch), "format": WEIGHTS_FORMAT}
        save_weights(self.weights_path("last"), tensors, metadata)
        if best:
            save_weights(self.weights_path("best"), tensors, metadata)

    def write_postprocessing(self, decision: dict, weights: str = "best") -> None:
        """``postprocessing.json``: the decision of
        ``ldseg.evaluation.postprocess.decide_postprocessing`` for ``weights`` (atomically)."""
        text = json.dumps(decision | {"weights": weights}, indent=2) + "\n"
        atomic_write_text(self.postprocessing_path, text)

    def write_metrics(self, header: Sequence[str], rows: Sequence[dict[str, float]]) -> None:
        """``metrics.csv``: one row per epoch (validation columns empty between validations)."""
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(header), restval="")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(self.metrics_path, buffer.getvalue())
