"""What the experiments share: a run's test cases read through its data path, batched
segmentation, Dice summaries, run labels."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ldseg.data.cases import Case, dataset_cases
from ldseg.data.slices import slice_axis
from ldseg.data.transforms import resize_probabilities
from ldseg.evaluation.metrics import dice_iou, dice_summary
from ldseg.evaluation.postprocess import keep_largest_component
from ldseg.inference import Predictor
from ldseg.inference.files import preprocess_slices
from ldseg.inference.results import SamplingOptions


def run_cases(
    predictor: Predictor, data: str | Path, split: str = "val", max_cases: int | None = None
) -> list[Case]:
    """The first ``max_cases`` cases of ``split`` of a dataset, read with the run's data
    settings (layout, binarize, class mapping), as training read its data."""
    return dataset_cases(data, predictor.config.data, split, max_cases)


def preprocess_cases(predictor: Predictor, cases: Sequence[Case]) -> list[torch.Tensor]:
    """Each case's image as the run's network sees it (a slice-wise run: the volume's slices
    ``(N, C, *size)``, as ``predict`` makes them)."""
    if predictor.config.data.slicing == "2d":
        return [
            preprocess_slices(predictor.config, case.image, case.path, case.spacing)[0]
            for case in cases
        ]
    return [predictor.preprocess(case.image, case.path, case.spacing) for case in cases]


def segment(
    predictor: Predictor,
    images: Sequence[torch.Tensor],
    cases: Sequence[Case],
    steps: int | None = None,
    sampler: str | None = None,
    seed: int = 0,
) -> list[np.ndarray]:
    """Masks at each case's own size from preprocessed ``images``, images of one size sampled
    together, every one from the noise of ``seed`` (as ``predict --seed`` draws it), with the
    predictor's largest-component post-processing. A slice-wise run segments each volume from
    its slices, as ``predict`` does."""
    if predictor.config.data.slicing == "2d":
        options, axis = SamplingOptions(steps, sampler, seed), predictor.config.data.slice_axis
        return [
            predictor.predict_slices(
                slices, slice_axis(case.mask.shape, case.spacing, axis), case.mask.shape, options
            ).mask
            for slices, case in zip(images, cases, strict=True)
        ]
    pipeline = predictor.pipeline(steps, sampler)
    by_size: dict[tuple[int, ...], list[int]] = defaultdict(list)
    for i, image in enumerate(images):
        by_size[tuple(image.shape)].append(i)
    masks: list[np.ndarray] = [np.empty(0)] * len(images)
    for index in by_size.values():
        batch = torch.stack([images[i] for i in index]).to(predictor.device)
        probs, _ = pipeline(batch, [seed] * len(index))
        for i, p in zip(index, probs.cpu(), strict=True):
            mask = resize_probabilities(p, cases[i].mask.shape).argmax(0).numpy()
            masks[i] = keep_largest_component(mask, predictor.keep_largest)
    return masks


def case_dice(
    masks: Sequence[np.ndarray], cases: Sequence[Case], num_classes: int
) -> dict[str, float | list | None]:
    """Per-class Dice over the cases and its foreground mean (``dice_summary``)."""
    scores = [dice_iou(m, c.mask, num_classes)[0] for m, c in zip(masks, cases, strict=True)]
    return dice_summary(scores)


def run_label(run_dir: str | Path) -> str:
    """A short name for a run in legends: its folder name (with the parent if generic)."""
    path = Path(run_dir).resolve()
    return f"{path.parent.name}/{path.name}" if path.name in ("run", "runs") else path.name
