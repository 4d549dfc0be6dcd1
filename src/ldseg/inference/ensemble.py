"""Several runs (folds, or different models) as one predictor: the mean of their class
probabilities, each run's own mean over its samples and flips, before the argmax."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from ldseg.errors import LDSegError
from ldseg.inference.predictor import Predictor
from ldseg.inference.results import SamplingOptions
from ldseg.inference.sampling import Moments


def _settings(member: Predictor) -> dict[str, object]:
    """What the members of an ensemble must share: the grid, the classes, the input channels
    and the data settings that change preprocessing."""
    config = member.config
    data = config.data
    return {
        "spatial dims": config.spatial_dims,
        "model.num_classes": config.model.num_classes,
        "model.in_channels": config.model.in_channels,
        "data.size": data.size,
        "data.resize": data.resize,
        "data.spacing": data.spacing,
        "data.intensity": data.intensity,
    }


def _name(member: Predictor, index: int) -> str:
    return str(member.run.path) if member.run is not None else f"member {index + 1}"


def check_members(members: Sequence[Predictor]) -> None:
    """Refuse members that disagree on :func:`_settings`, in one line naming both runs."""
    first = _settings(members[0])
    for index, member in enumerate(members[1:], start=1):
        for key, value in _settings(member).items():
            if value != first[key]:
                raise LDSegError(
                    f"--run {_name(member, index)}: {key} {value} differs from "
                    f"{first[key]} of --run {_name(members[0], 0)}; the runs of an ensemble "
                    "must agree"
                )


class Ensemble(Predictor):
    """Predicts with every member and averages their per-class probabilities (each member's
    mean over its samples and flips, members weighted equally) before the argmax; the mask
    keeps only the largest component of the classes every member's post-processing chose.
    The first member's sample gives the trajectory.

    Example::

        ensemble = Ensemble.from_runs(["runs/fold0", "runs/fold1"])
        mask = ensemble.predict_array(image).mask
    """

    def __init__(self, members: Sequence[Predictor]) -> None:
        if not members:
            raise ValueError("an ensemble needs at least one member")
        check_members(members)
        first = members[0]
        common = set(first.keep_largest).intersection(*(m.keep_largest for m in members))
        super().__init__(
            first.model, first.config, first.device, first.run, first.weights, sorted(common)
        )
        self.members = list(members)

    @classmethod
    def from_runs(
        cls,
        run_dirs: Sequence[str | Path],
        weights: str = "best",
        device: str | torch.device = "cpu",
        postprocess: bool = True,
    ) -> Ensemble:
        """Each run folder's :meth:`Predictor.from_run`, checked to agree."""
        return cls([Predictor.from_run(r, weights, device, postprocess) for r in run_dirs])

    def moments(
        self,
        images: torch.Tensor,
        shapes: Sequence[Sequence[int]],
        options: SamplingOptions,
        batch_size: int = 16,
        max_frames: int = 0,
    ) -> Moments:
        """The members' mean probabilities (and mean squares) averaged."""
        parts = [
            member.moments(images, shapes, options, batch_size, max_frames if i == 0 else 0)
            for i, member in enumerate(self.members)
        ]
        mean = sum(p.mean.double() for p in parts) / len(parts)
        mean_square = None
        if parts[0].mean_square is not None:
            mean_square = sum(p.mean_square for p in parts) / len(parts)
        return Moments(mean, mean_square, parts[0].trajectories)

    def describe(self, sampling: SamplingOptions) -> dict:
        """Every member's :meth:`Predictor.describe` under ``members``, the runs under ``runs``
        and the post-processing the ensemble applies."""
        members = [member.describe(sampling) for member in self.members]
        return {
            "runs": [m["run"] for m in members],
            "device": str(self.device),
            "keep_largest_component": self.keep_largest,
            "members": members,
        }
