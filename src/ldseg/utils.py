"""Small shared helpers: atomic file writes, free output folders, the CPUs this process may use
and the memory available, numbers for printing, dataclasses built from checked mappings."""

from __future__ import annotations

import dataclasses
import os
import re
import tempfile
import types
import typing
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


def available_memory() -> int:
    """Bytes of memory available to new allocations (Linux ``MemAvailable``; elsewhere the
    physical memory)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


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


def build_dataclass(cls: type, raw: Any, where: str, partial: bool) -> Any:
    """``cls`` (a dataclass, nested ones included) from the mapping ``raw``, every value checked
    against its type hint; unknown keys, and without ``partial`` missing ones, are refused in one
    line naming ``where`` and the key."""
    if not isinstance(raw, dict):
        raise LDSegError(f"{where}: expected a mapping")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - names)
    if unknown:
        raise LDSegError(f"{where}: unknown key(s) {', '.join(unknown)}")
    missing = sorted(names - set(raw))
    if missing and not partial:
        raise LDSegError(f"{where}: missing key(s) {', '.join(missing)}")
    values = {}
    for name, value in raw.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            values[name] = build_dataclass(hint, value, f"{where}: {name}", partial)
        else:
            values[name] = _check(value, hint, f"{where}: {name}")
    return cls(**values)


def _check(value: Any, hint: Any, where: str) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        return _check(value, next(a for a in args if a is not type(None)), where)
    if origin is list:
        if not isinstance(value, list | tuple):
            raise LDSegError(f"{where}: expected a list, got {value!r}")
        return [_check(v, args[0], where) for v in value]
    ok = {
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, int | float) and not isinstance(value, bool),
        str: isinstance(value, str),
    }[hint]
    if not ok:
        raise LDSegError(f"{where}: expected {hint.__name__}, got {value!r}")
    return float(value) if hint is float else value


class YAMLLoader(yaml.SafeLoader):
    """PyYAML's safe loader reading floats as YAML 1.2 (and JSON) do: ``1e-4`` is a number, not
    the string YAML 1.1 makes of an exponent without a dot."""


YAMLLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)[eE][-+]?\d+$"),
    list("-+0123456789."),
)


def parse_yaml(text: str) -> Any:
    """``text`` read as YAML with :class:`YAMLLoader`."""
    return yaml.load(text, Loader=YAMLLoader)
