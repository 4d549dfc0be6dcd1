"""What prediction is asked to do and what it returns."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np


@dataclass(frozen=True)
class SamplingOptions:
    """How to sample: K steps and the sampler (None: the run's), the seed of the first sample
    (sample ``s`` of an image starts from the noise of ``seed + s``), samples per image, and
    ``tta``: each sample also on the image flipped on every subset of its axes, flipped back."""

    steps: int | None = None
    sampler: str | None = None
    seed: int = 0
    samples: int = 1
    tta: bool = False


@dataclass(frozen=True)
class FileOptions:
    """What :meth:`Predictor.predict_files` writes and how it batches: ``save_uncertainty``
    (needs 2 or more samples) and ``save_trajectory`` add maps and pictures beside the masks;
    ``workers`` processes read the files and same-size images run ``batch_size`` at a time."""

    sampling: SamplingOptions = field(default_factory=SamplingOptions)
    save_uncertainty: bool = False
    save_trajectory: bool = False
    batch_size: int = 8
    workers: int = 0

    def problems(self) -> list[str]:
        found = []
        if self.sampling.samples < 1:
            found.append(f"samples must be at least 1, got {self.sampling.samples}")
        if self.save_uncertainty and self.sampling.samples < 2:
            found.append("uncertainty maps need at least 2 samples")
        if self.batch_size < 1 or self.workers < 0:
            found.append(
                f"batch size must be >= 1 and workers >= 0, got {self.batch_size}, {self.workers}"
            )
        return found

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Trajectory:
    """The reverse process of one sample: the state at kept steps and its decoded mask.

    ``timesteps[i]`` is the noise level of ``latents[i]`` (T for the initial noise, 0 for the
    final state); ``latents[i]`` is the state's first channel on the network's input grid (each
    latent cell covering the pixels it encodes; with sliding windows, blended as the
    probabilities are); ``masks[i]`` is the mask it decodes to, at the input size.
    """

    timesteps: list[int]
    latents: list[np.ndarray]
    masks: list[np.ndarray]


@dataclass
class Prediction:
    """A segmentation: class indices ``(*S)`` and class probabilities ``(C, *S)``.

    With several samples, ``probabilities`` is their mean, ``mask`` its argmax and ``std`` the
    per-pixel standard deviation over samples of the predicted class's probability ``(*S)``.
    ``trajectory`` is the first sample's reverse process, when asked for.
    """

    mask: np.ndarray
    probabilities: np.ndarray
    std: np.ndarray | None = None
    trajectory: Trajectory | None = None
