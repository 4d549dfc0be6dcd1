"""What the experiments share: the labelled cases they run on and run labels."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ldseg.config import DataConfig
from ldseg.data.cases import Case, dataset_cases
from ldseg.data.layouts import discover
from ldseg.data.pairing import Pair


@dataclass(frozen=True)
class CaseSelection:
    """The labelled cases an experiment runs on: ``split`` of the dataset at ``data`` (any
    layout ``discover`` knows; all its pairs when it has no splits), the first ``max_cases``
    (all by default)."""

    data: Path
    split: str = "val"
    max_cases: int | None = None

    def pairs(self, settings: DataConfig) -> list[Pair]:
        """The image/mask pairs, found with a run's ``data.layout``."""
        return discover(self.data, settings.layout).pairs(self.split)[: self.max_cases]

    def cases(self, settings: DataConfig) -> list[Case]:
        """The cases read with a run's data settings (layout, binarize, class mapping), as
        training read its data."""
        return dataset_cases(self.data, settings, self.split, self.max_cases)


def run_label(run_dir: str | Path) -> str:
    """A short name for a run in legends: its folder name (with the parent if generic)."""
    path = Path(run_dir).resolve()
    return f"{path.parent.name}/{path.name}" if path.name in ("run", "runs") else path.name
