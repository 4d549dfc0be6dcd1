"""Small shared helpers: atomic file writes, free output folders, the CPUs this process may use,
numbers for printing, reading YAML/JSON config files."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from ldseg.errors import LDSegError


def _file_mode() -> int:
    """The mode ``open()`` gives a new file under this process's umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


FILE_MODE = _file_mode()


def atomic_write(path: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it into place.

    A crash at any moment leaves either the previous file or the complete new one, never a
    truncated file. The temporary keeps ``path``'s suffixes so format detection still works.
    An operating-system error (no permission, disk full) becomes an :class:`LDSegError`
    naming ``path``.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{path.name}.", suffix=f".tmp{''.join(path.suffixes)}", dir=path.parent
        )
    except OSError as err:
        raise LDSegError(f"{path}: cannot write ({err.strerror or err})") from err
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        os.chmod(tmp, FILE_MODE)  # mkstemp's 0600 would hide results from other users
        os.replace(tmp, path)
    except OSError as err:
        raise LDSegError(f"{path}: cannot write ({err.strerror or err})") from err
    finally:
        tmp.unlink(missing_ok=True)
    return path


def atomic_write_text(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically."""
    return atomic_write(path, lambda tmp: tmp.write_text(text))


def stale_temporaries(folder: Path) -> list[Path]:
    """Temporary files that ``atomic_write`` left in ``folder`` because its process was killed
    (never mistaken for the files they were to become: their names differ)."""
    return sorted(Path(folder).glob(".*.tmp*"))


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity where the system reports it)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def free_dir(base: str | Path) -> Path:
    """``base`` if it is absent or empty, else the first ``base-2``, ``base-3``, ... that is."""
    base = Path(base)
    candidate, n = base, 1
    while candidate.exists() and any(candidate.iterdir()):
        n += 1
        candidate = base.with_name(f"{base.name}-{n}")
    return candidate


def fmt(value: float | None, digits: int = 4) -> str:
    """A number for printing, "n/a" for None."""
    return "n/a" if value is None else f"{value:.{digits}f}"


def read_mapping(path: Path) -> dict[str, Any]:
    """A YAML (``.yaml``, ``.yml``) or JSON config file that holds a mapping."""
    try:
        text = path.read_text()
        raw = yaml.safe_load(text) if path.suffix in (".yaml", ".yml") else json.loads(text)
    except (OSError, ValueError, yaml.YAMLError) as err:
        raise LDSegError(f"{path}: cannot read config ({err})") from None
    if not isinstance(raw, dict):
        raise LDSegError(f"{path}: config must be a mapping")
    return raw
