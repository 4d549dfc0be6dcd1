"""What ``predict`` writes beside the inputs' masks: uncertainty maps, trajectory pictures and
``prediction.json``, the record of what it did (nnU-Net v2 style: arguments and plans)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from ldseg import __version__
from ldseg.data.formats import file_stem, mask_suffix
from ldseg.data.inputs import ImageInput
from ldseg.data.writers import write_mask, write_probability_map
from ldseg.errors import LDSegError
from ldseg.inference.files import LoadedImage
from ldseg.inference.results import FileOptions, Prediction
from ldseg.utils import atomic_write_text

RECORD = "prediction.json"
MAPS = ("mean", "std")  # the uncertainty maps, <stem>_mean and <stem>_std


def planned_outputs(
    inputs: Sequence[ImageInput], out_dir: Path, save_uncertainty: bool, save_trajectory: bool
) -> list[tuple[Path, str]]:
    """Every file :func:`write_outputs` and :func:`write_record` would write for ``inputs``,
    each with the input it is made from (for ``ldseg.runs.guard.check_outputs``)."""
    planned = []
    for item in inputs:
        stem, origin = item.stem, str(item.path)
        planned.append((out_dir / f"{stem}{mask_suffix(item.path)}", origin))
        if save_uncertainty:
            suffix = mask_suffix(item.path)
            planned += [(out_dir / "uncertainty" / f"{stem}_{m}{suffix}", origin) for m in MAPS]
        if save_trajectory:
            planned += [(out_dir / "trajectory" / f"{stem}{s}", origin) for s in (".png", ".gif")]
    return [*planned, (out_dir / RECORD, "the record")]


def write_uncertainty_maps(
    prediction: Prediction, reference: str | Path, out_dir: Path, stem: str | None = None
) -> list:
    """Write ``<stem>_mean`` (mean foreground probability, 1 - P(background)) and ``<stem>_std``
    (per-pixel SD) beside each other: float32 in a volume reference's format and geometry, else
    16-bit PNG holding ``value * 65535``; ``stem`` defaults to the reference's."""
    stem = stem or file_stem(reference)
    maps = {"mean": 1 - prediction.probabilities[0], "std": prediction.std}
    return [
        write_probability_map(values, reference, out_dir / f"{stem}_{name}")
        for name, values in maps.items()
    ]


def write_outputs(
    item: LoadedImage,
    prediction: Prediction,
    out_dir: Path,
    class_names: Sequence[str] | None,
    save_uncertainty: bool,
) -> Path:
    """Write a file's mask, and its uncertainty maps and trajectory pictures if asked; returns
    the mask's path."""
    stem = item.stem
    if prediction.trajectory is not None:
        # Imported here: matplotlib stays out of training's and export's imports.
        from ldseg.inference.trajectory import save_trajectory_figures

        trajectory_dir = out_dir / "trajectory"
        save_trajectory_figures(
            item.image, prediction.trajectory, trajectory_dir, stem, class_names
        )
    if save_uncertainty:
        write_uncertainty_maps(prediction, item.path, out_dir / "uncertainty", stem)
    return write_mask(prediction.mask, item.path, out_dir / f"{stem}{mask_suffix(item.path)}")


def write_record(
    out_dir: Path,
    source: dict,
    options: FileOptions,
    inputs: Sequence[ImageInput],
    outcomes: dict[int, Path | LDSegError],
) -> Path:
    """``out_dir/prediction.json``: ``source`` (the run, weights, device, its config and the
    sampler and K as resolved), the options, and per input its mask or its error (an input of
    several channel files lists them)."""
    entries = []
    for index, item in enumerate(inputs):
        outcome = outcomes.get(index)
        files = [str(p) for p in item.files]
        entry: dict = {"input": files[0] if len(files) == 1 else files}
        if isinstance(outcome, Path):
            entry["mask"] = outcome.name
        elif outcome is not None:
            entry["error"] = str(outcome)
        entries.append(entry)
    record = {"ldseg": __version__, **source, "options": options.to_dict(), "inputs": entries}
    return atomic_write_text(out_dir / RECORD, json.dumps(record, indent=2) + "\n")
