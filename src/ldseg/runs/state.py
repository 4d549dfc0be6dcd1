"""What ``ldseg train --resume`` continues from, kept in the run folder (see ``RunFolder``).

``train_state.safetensors`` holds the model, EMA and optimiser tensors of the last completed
epoch, with the epoch, learning-rate schedule, gradient scaler, best score and metrics rows as
JSON in its header: one file, written atomically, so a kill at any moment leaves a complete
state. ``train_data.json`` lists the training and validation pairs. The state records the
SHA-256 of ``config.json`` and ``train_data.json`` and refuses to resume if either changed.
Random-number states need no saving: they derive from (seed, epoch) (``ldseg.training.seeding``).
"""

from __future__ import annotations

import hashlib
import json
import os
import typing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from torch import nn

from ldseg.data.pairing import Pair
from ldseg.errors import DataError, RunFolderError
from ldseg.runs.weights import load_weights, model_tensors, save_weights
from ldseg.utils import atomic_write_text

STATE_FORMAT = "ldseg-train-state-1"
PREFIXES = ("model.", "ema.", "optimizer.")


@dataclass
class Progress:
    """The scalars of a training state; ``epoch`` is the last completed epoch."""

    epoch: int = 0
    best_epoch: int = 0
    best_score: float = -1.0
    seconds: float = 0.0
    finished: bool = False
    rows: list[dict[str, float]] = field(default_factory=list)
    scheduler: dict[str, Any] = field(default_factory=dict)
    scaler: dict[str, Any] = field(default_factory=dict)
    config_sha256: str = ""
    data_sha256: str = ""


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def save_state(
    path: Path,
    model: nn.Module,
    ema: nn.Module | None,
    optimizer: torch.optim.Optimizer,
    progress: Progress,
) -> None:
    """Write the training state atomically."""
    tensors = model_tensors(model, ema)
    for index, values in optimizer.state_dict()["state"].items():
        tensors |= {f"optimizer.{index}.{name}": v for name, v in values.items()}
    metadata = {"format": STATE_FORMAT, "progress": json.dumps(asdict(progress))}
    save_weights(path, tensors, metadata)


def read_progress(path: Path) -> Progress:
    """The scalars of a training state file, checked; its tensors are not read."""
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
    except (SafetensorError, OSError) as err:
        raise RunFolderError(f"{path}: not a valid safetensors file ({err})") from None
    if metadata.get("format") != STATE_FORMAT:
        raise RunFolderError(f"{path}: not an ldseg training state (format {STATE_FORMAT})")
    try:
        raw = json.loads(metadata.get("progress", ""))
    except ValueError:
        raise RunFolderError(f"{path}: training state header is not valid JSON") from None
    hints = typing.get_type_hints(Progress)
    if not isinstance(raw, dict) or set(raw) != set(hints):
        raise RunFolderError(f"{path}: training state header must have keys {sorted(hints)}")
    for name, hint in hints.items():
        kind = typing.get_origin(hint) or hint
        if not _is(raw[name], kind):
            raise RunFolderError(f"{path}: training state {name} must be {kind.__name__}")
    if not all(
        isinstance(row, dict) and all(_is(v, float) for v in row.values()) for row in raw["rows"]
    ):
        raise RunFolderError(f"{path}: training state rows must map names to numbers")
    return Progress(**raw)


def _is(value: Any, kind: type) -> bool:
    """JSON type check: a float may be written as an integer; a bool is not a number."""
    if kind in (int, float) and isinstance(value, bool):
        return False
    return isinstance(value, int | float if kind is float else kind)


def load_state(
    path: Path, model: nn.Module, ema: nn.Module | None, optimizer: torch.optim.Optimizer
) -> None:
    """Load a training state's tensors into ``model``, ``ema`` and ``optimizer``."""
    tensors = load_weights(path)
    unknown = sorted(k for k in tensors if not k.startswith(PREFIXES))
    if unknown:
        raise RunFolderError(f"{path}: unexpected tensors in the training state: {unknown[:3]}")
    for prefix, module in (("model.", model), ("ema.", ema)):
        if module is None:
            continue
        state = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
        try:
            module.load_state_dict(state, strict=True)
        except RuntimeError as err:
            first = str(err).strip().splitlines()[0]
            raise RunFolderError(f"{path}: state does not match the model ({first})") from None
    params = [p for group in optimizer.param_groups for p in group["params"]]
    moments: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if not key.startswith("optimizer."):
            continue
        index, _, name = key.removeprefix("optimizer.").partition(".")
        if not index.isdigit() or int(index) >= len(params) or not name:
            raise RunFolderError(f"{path}: optimiser state does not match the model ({key})")
        moments.setdefault(int(index), {})[name] = value
    for index, values in moments.items():
        if any(v.ndim and v.shape != params[index].shape for v in values.values()):
            raise RunFolderError(f"{path}: optimiser state does not match the model")
    optimizer.load_state_dict(
        {"state": moments, "param_groups": optimizer.state_dict()["param_groups"]}
    )


def restore_schedule(
    progress: Progress,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    scaler: torch.amp.GradScaler,
    path: Path,
) -> None:
    """Restore the learning-rate schedule and gradient scaler (checked against fresh ones)."""
    for name, saved, target in (
        ("scheduler", progress.scheduler, scheduler),
        ("scaler", progress.scaler, scaler),
    ):
        fresh = target.state_dict()
        if set(saved) != set(fresh) or any(type(saved[k]) is not type(fresh[k]) for k in fresh):
            raise RunFolderError(f"{path}: training state {name} does not match the config")
        target.load_state_dict(saved)
    for group, lr in zip(scheduler.optimizer.param_groups, scheduler.get_last_lr(), strict=True):
        group["lr"] = lr


def write_data_list(
    path: Path, train: list[Pair], val: list[Pair], root: Path | None = None
) -> None:
    """Record the pairs of a run for ``--resume``: the data ``root`` (default: the deepest
    folder holding every file) and each path relative to it (absolute when outside it)."""
    files = [Path(f).resolve() for pair in (*train, *val) for f in (*pair.images, pair.mask)]
    base = Path(root).resolve() if root else Path(os.path.commonpath([f.parent for f in files]))

    def name(file: Path) -> str:
        file = Path(file).resolve()
        return (file.relative_to(base) if file.is_relative_to(base) else file).as_posix()

    def entry(pair: Pair) -> dict[str, Any]:
        image, mask, channels = name(pair.image), name(pair.mask), [name(c) for c in pair.channels]
        return {"image": image, "mask": mask, "stem": pair.stem, "channels": channels}

    lists = {"root": str(base), "train": [entry(p) for p in train], "val": [entry(p) for p in val]}
    atomic_write_text(path, json.dumps(lists) + "\n")


def read_data_list(path: Path, root: Path | None = None) -> tuple[list[Pair], list[Pair]]:
    """The training and validation pairs that ``write_data_list`` recorded, under ``root`` in
    place of the recorded root (data that moved); every file must exist. A data list from
    before roots were recorded holds absolute paths, which ``root`` cannot move."""
    try:
        raw = json.loads(Path(path).read_text())
        recorded = raw.get("root")
        if root is not None and recorded is None:
            raise RunFolderError(
                f"{path}: records absolute paths (an older run); --data cannot move them"
            )
        base = Path(root if root is not None else recorded or "/")
        pairs = [
            [
                Pair(
                    base / e["image"],
                    base / e["mask"],
                    e["stem"],
                    tuple(base / c for c in e["channels"]),
                )
                for e in raw[split]
            ]
            for split in ("train", "val")
        ]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise RunFolderError(f"{path}: cannot read the run's data list ({err!r})") from None
    hint = f"under the data root {root}" if root is not None else "(moved? give --data NEW_ROOT)"
    for pair in (*pairs[0], *pairs[1]):
        for file in (*pair.images, pair.mask):
            if not file.is_file():
                raise DataError(f"{file}: missing {hint}; {Path(path).name} lists it")
    return pairs[0], pairs[1]
