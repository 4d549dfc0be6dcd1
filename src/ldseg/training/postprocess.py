"""The post-processing decision at the end of training: on the validation cases, predicted as
``predict`` does with the run's best weights (seed 0, the run's sampler and K, at the network's
size), whether the largest foreground region and which classes gain from keeping only their
largest connected component. A slice-wise run decides on its validation volumes, stacked
from their slices, since ``predict`` post-processes whole volumes."""

from __future__ import annotations

import numpy as np
import torch

from ldseg.data.slices import volume_stem
from ldseg.evaluation.postprocess import decide_postprocessing
from ldseg.inference import Predictor
from ldseg.runs import RunFolder
from ldseg.training.samples import Samples
from ldseg.training.validation import same_shape_batches


def record_postprocessing(
    folder: RunFolder, cases: Samples, device: torch.device, batch_size: int = 8
) -> None:
    """Decide on ``cases`` (preprocessed validation samples) and write the run's
    ``postprocessing.json``; nothing without validation cases or best weights."""
    if not cases or not folder.weights_path("best").is_file():
        return
    predictor = Predictor.from_run(folder.path, "best", device, postprocess=False)
    masks, truths = [], []
    for group in same_shape_batches(cases, batch_size):  # native grids differ in size
        images = torch.stack([case["image"] for case in group])
        shapes = [tuple(images.shape[2:])] * len(group)
        masks += [p.mask for p in predictor.predict_batch(images, shapes, batch_size=batch_size)]
        truths += [case["mask"][0].numpy() for case in group]
    if predictor.config.data.slicing == "2d":
        stems = [str(case["stem"]) for case in cases]
        masks, truths = as_volumes(masks, stems), as_volumes(truths, stems)
    decision = decide_postprocessing(masks, truths, predictor.config.model.num_classes)
    folder.write_postprocessing(decision)


def as_volumes(slices: list[np.ndarray], stems: list[str]) -> list[np.ndarray]:
    """Consecutive slices of one volume (same :func:`volume_stem`) stacked along a last axis, a
    volume each."""
    volumes: list[list[np.ndarray]] = []
    for i, stem in enumerate(stems):
        if i == 0 or volume_stem(stem) != volume_stem(stems[i - 1]):
            volumes.append([])
        volumes[-1].append(slices[i])
    return [np.stack(v, axis=-1) for v in volumes]
