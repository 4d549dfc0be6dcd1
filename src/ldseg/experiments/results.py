"""``results.json``: what an experiment measured, with its command line, versions and machine."""

from __future__ import annotations

import json
import os
import platform
import shlex
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import torch

from ldseg import __version__
from ldseg.utils import atomic_write_text, usable_cpus

PACKAGES = ("torch", "monai", "numpy", "scipy", "matplotlib", "nibabel", "pillow")


def _package_version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment() -> dict:
    """Versions of ldseg, Python and the main libraries, and a description of the machine."""
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") if os.name == "posix" else 0
    return {
        "versions": {
            "ldseg": __version__,
            "python": platform.python_version(),
            **{name: _package_version(name) for name in PACKAGES},
        },
        "machine": {
            "platform": platform.platform(),
            "cpu": _cpu_model(),
            "cpu_count": os.cpu_count(),
            "usable_cpus": usable_cpus(),
            "torch_threads": torch.get_num_threads(),
            "memory_gib": round(memory / 2**30, 1),
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        },
    }


def write_results(
    out_dir: str | Path,
    experiment: str,
    results: dict,
    figures: list[Path],
    command: str | None = None,
) -> Path:
    """Write ``out_dir/results.json``; ``command`` defaults to this process's command line."""
    out_dir = Path(out_dir)
    record = {
        "experiment": experiment,
        "command": command or shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **environment(),
        "figures": [os.path.relpath(f, out_dir) for f in figures],
        "results": results,
    }
    text = json.dumps(record, indent=2, allow_nan=False)
    return atomic_write_text(out_dir / "results.json", text + "\n")


@dataclass(frozen=True)
class ResultsFolder:
    """Where an experiment writes ``results.json`` and its figures, and the command line the
    record names (default: this process's)."""

    path: Path
    command: str | None = None

    def file(self, name: str) -> Path:
        """A file of the folder (a figure's path)."""
        return Path(self.path) / name

    def write(self, experiment: str, results: dict, figures: list[Path]) -> Path:
        """:func:`write_results` into the folder."""
        return write_results(self.path, experiment, results, figures, self.command)
