"""The post-processing decision at the end of training: on the validation cases, predicted as
``predict`` does with the run's best weights (seed 0, the run's sampler and K, at the network's
size), which classes gain from keeping only their largest connected component."""

from __future__ import annotations

import torch

from ldseg.evaluation.postprocess import decide_postprocessing
from ldseg.inference import Predictor
from ldseg.runs import RunFolder
from ldseg.training.samples import Samples


def record_postprocessing(
    folder: RunFolder, cases: Samples, device: torch.device, batch_size: int = 8
) -> None:
    """Decide on ``cases`` (preprocessed validation samples) and write the run's
    ``postprocessing.json``; nothing without validation cases or best weights."""
    if not cases or not folder.weights_path("best").is_file():
        return
    predictor = Predictor.from_run(folder.path, "best", device, postprocess=False)
    per_group = batch_size if predictor.config.data.resize else 1  # native grids differ in size
    groups = [cases[i : i + per_group] for i in range(0, len(cases), per_group)]
    masks, truths = [], []
    for group in groups:
        images = torch.stack([case["image"] for case in group])
        shapes = [tuple(images.shape[2:])] * len(group)
        masks += [p.mask for p in predictor.predict_batch(images, shapes, batch_size=batch_size)]
        truths += [case["mask"][0].numpy() for case in group]
    decision = decide_postprocessing(masks, truths, predictor.config.model.num_classes)
    folder.write_postprocessing(decision)
