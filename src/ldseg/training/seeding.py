"""Training randomness as a function of (seed, epoch, case): the same draws in any batch, on any
process and after a resume.

Every training case gets a seed per epoch; it seeds the case's crop and augmentation and the
generator of its diffusion timestep and noise. The shuffling is ``DistributedSampler``'s (seed
+ epoch) and dropout uses the global generator, reseeded per epoch and process. So nothing but
the epoch number is needed to restart an epoch exactly, and data-parallel processes together
draw what one process would draw for the same global batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from monai.transforms import Compose, apply_transform
from torch.utils.data import Dataset

PROCESS_STREAM, CASE_STREAM = 0, 1


def derived_seed(seed: int, epoch: int, stream: int, index: int) -> int:
    """An independent 32-bit seed for ``index`` of ``stream`` in ``epoch`` of a run."""
    return int(np.random.SeedSequence([seed, epoch, stream, index]).generate_state(1)[0])


def seed_process(seed: int, epoch: int, rank: int) -> None:
    """Reseed the global generators (dropout) of process ``rank`` for ``epoch``."""
    torch.manual_seed(derived_seed(seed, epoch, PROCESS_STREAM, rank))


def case_generators(seeds: torch.Tensor, device: torch.device) -> list[torch.Generator]:
    """One generator per case of a batch, from the ``"seed"`` entries ``SeededCases`` adds."""
    return [torch.Generator(device).manual_seed(int(s)) for s in seeds]


class SeededCases(Dataset):
    """Training cases, cropped and augmented by ``transform`` with a seed per (epoch, case).

    Each item carries its seed under ``"seed"`` for ``case_generators``; call ``set_epoch``
    before every epoch, as for ``DistributedSampler``.
    """

    def __init__(self, cases: Sequence[dict], transform: Compose | None, seed: int) -> None:
        self.cases, self.transform, self.seed = cases, transform, seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.cases)

    def __getitem__(self, index: int) -> Any:
        seed = derived_seed(self.seed, self.epoch, CASE_STREAM, index)
        item = dict(self.cases[index])
        if self.transform is not None:
            self.transform.set_random_state(seed=seed)
            item = apply_transform(self.transform, item)
        if isinstance(item, list):  # random crops return a list of samples
            return [sample | {"seed": seed} for sample in item]
        return item | {"seed": seed}
