"""The output-safety rule of every command that writes: an output never replaces an input of the
same command, a file of a run folder the command does not own, or another output of the same
command. A command lists all its outputs first and calls :func:`check_outputs` before it writes
anything; a collision stops it with one line naming both paths.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from ldseg.errors import LDSegError

# The files that make a folder a run (see ``ldseg.runs.RunFolder``), and those that mark one.
RUN_FILES = (
    "config.json",
    "best.safetensors",
    "last.safetensors",
    "train_state.safetensors",
    "train_data.json",
    "splits.json",
    "metrics.csv",
    "curves.png",
    "postprocessing.json",
)
RUN_MARKERS = ("best.safetensors", "last.safetensors", "train_state.safetensors", "train_data.json")

Output = Path | str | tuple[Path | str, str]


def _key(path: Path) -> tuple:
    """What identifies a file: its device and inode when it exists (hard links, symlinks and
    different spellings agree), else its resolved path."""
    try:
        stat = path.stat()
    except OSError:
        return ("path", os.path.normcase(os.path.realpath(path)))
    return ("inode", stat.st_dev, stat.st_ino)


def input_files(inputs: Iterable[Path | str]) -> list[Path]:
    """The files of ``inputs``: a file as it is, every file under a folder."""
    files = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.is_file())
        elif path.exists():
            files.append(path)
    return files


def is_run_folder(folder: Path) -> bool:
    """Whether ``folder`` holds a run: a ``config.json`` with weights, state or data list."""
    return (folder / "config.json").is_file() and any((folder / m).exists() for m in RUN_MARKERS)


def check_outputs(
    outputs: Iterable[Output],
    inputs: Iterable[Path | str] = (),
    own: Iterable[Path | str] = (),
) -> None:
    """Refuse, before anything is written, an output that would replace

    - one of ``inputs`` (files, or folders standing for every file under them),
    - a file of a run folder (``config.json``, weights, training state, ...) not in ``own``,
    - or another of ``outputs``.

    An output is a path or ``(path, what it is made from)``, for the message. Raises an
    :class:`LDSegError` that names both paths.
    """
    sources = {_key(p): p for p in input_files(inputs)}
    owned = {_key(Path(p)) for p in own}
    seen: dict[tuple, tuple[Path, str]] = {}
    for output in outputs:
        path, origin = (Path(output[0]), output[1]) if isinstance(output, tuple) else (output, "")
        path = Path(path)
        key = _key(path)
        if key in sources:
            raise LDSegError(
                f"{path}: would overwrite the input {sources[key]}; choose another output"
            )
        parent = path.parent
        if path.name in RUN_FILES and _key(parent) not in owned and is_run_folder(parent):
            raise LDSegError(
                f"{path}: would overwrite a file of the run folder {parent}; choose another output"
            )
        if key in seen:
            first, first_origin = seen[key]
            made = f" (made from {first_origin} and {origin})" if origin and first_origin else ""
            raise LDSegError(
                f"{path}: two outputs of this command would be the same file {first}{made}; "
                "rename one of the inputs or write them to separate folders"
            )
        seen[key] = (path, origin)
