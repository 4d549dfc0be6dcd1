"""The post-processing decision at the end of training: on the validation cases, predicted as
``predict`` does with the run's best weights (seed 0, the run's sampler and K, at the network's
size), whether the largest foreground region and which classes gain from keeping only their
largest connected component. A slice-wise run decides on its validation volumes, stacked
from their slices, since ``predict`` post-processes whole volumes."""

from __future__ import annotations

import torch

from ldseg.evaluation.postprocess import decide_postprocessing
from ldseg.inference import Predictor
from ldseg.inference.scoring import segment_and_score
from ldseg.runs import RunFolder
from ldseg.training.samples import Samples


def record_postprocessing(
    folder: RunFolder, cases: Samples, device: torch.device, batch_size: int = 8
) -> None:
    """Decide on ``cases`` (preprocessed validation samples, read in order: consecutive
    samples of one shape share model calls, as in validation) and write the run's
    ``postprocessing.json``; nothing without validation cases or best weights."""
    if not cases or not folder.weights_path("best").is_file():
        return
    predictor = Predictor.from_run(folder.path, "best", device, postprocess=False)
    scored = segment_and_score(
        predictor,
        predictor.adapter.sample_cases(cases),
        batching="consecutive",
        batch_size=batch_size,
        keep_masks=True,
    )
    decision = decide_postprocessing(scored.masks, scored.truths, predictor.model.num_classes)
    folder.write_postprocessing(decision)
