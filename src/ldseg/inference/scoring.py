"""Segment a set of labelled cases and score them: the one path that validation during
training, the post-processing decisions, ``compare``, cross-validation, the experiments and
the benchmarks share."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from ldseg.data.adapter import NetworkInput
from ldseg.evaluation.metrics import CaseScores
from ldseg.inference.batches import Batching
from ldseg.inference.predictor import Predictor
from ldseg.inference.results import Prediction, SamplingOptions


@dataclass
class ScoredCases:
    """What :func:`segment_and_score` found, each list in the order of the cases: the scores,
    the stems, and where asked for the masks and truths and the seconds per case."""

    scores: CaseScores
    stems: list[str] = field(default_factory=list)
    masks: list[np.ndarray] | None = None
    truths: list[np.ndarray] | None = None
    seconds: list[float] | None = None

    def summary(self) -> dict[str, float | list | None]:
        """Per-class Dice over the cases and its foreground mean (``dice_summary``)."""
        return self.scores.summary()


def segment_and_score(
    predictor: Predictor,
    cases: Iterable[NetworkInput],
    sampling: SamplingOptions | None = None,
    *,
    batching: Batching = "size",
    batch_size: int = 16,
    iou: bool = False,
    keep_masks: bool = False,
    timed: bool = False,
    each: Callable[[int, Prediction], None] | None = None,
) -> ScoredCases:
    """Segment ``cases`` (network inputs with their truth ``mask``, read one at a time) with
    ``predictor`` and score every mask against its truth on the case's grid.

    ``predictor`` is a run folder's :class:`Predictor` or one built on a model in training
    (``Predictor(model, config, device)``, e.g. under its EMA weights); its ``keep_largest``
    post-processes the masks. What a case is decides what is scored: the cases of the
    adapter (``predictor.adapter.case_inputs``) are images and volumes on their own grid; a
    training sample (``ldseg.data.adapter.sample_input``) is one image or slice at the
    network's size; ``adapter.sample_cases`` stacks a volume's slice samples.

    Args:
        sampling: K, sampler, seed, samples and test-time flips (default: the run's, seed 0).
        batching: which rows share a model call (``ldseg.inference.batches``).
        batch_size: rows per model call.
        iou: score IoU as well as Dice.
        keep_masks: keep each case's mask and truth (e.g. for a post-processing decision).
        timed: time each case, from taking it from ``cases`` (its preprocessing, when
            ``cases`` makes it) to its post-processed mask; needs ``case`` batching.
        each: called with each case's position and prediction as the case is done.
    """
    if timed and batching != "case":
        raise ValueError("timing cases one at a time needs batching 'case'")
    scores = CaseScores(predictor.model.num_classes, iou)
    stems: dict[int, str] = {}
    masks: dict[int, np.ndarray] = {}
    truths: dict[int, np.ndarray] = {}
    seconds: list[float] = []
    start = time.perf_counter()
    for position, case, prediction in predictor.segment(cases, sampling, batch_size, batching):
        if timed:
            seconds.append(time.perf_counter() - start)
        scores.add(prediction.mask, case.mask, position)
        stems[position] = case.stem
        if keep_masks:
            masks[position], truths[position] = prediction.mask, case.mask
        if each is not None:
            each(position, prediction)
        start = time.perf_counter()
    return ScoredCases(
        scores,
        [stems[p] for p in sorted(stems)],
        [masks[p] for p in sorted(masks)] if keep_masks else None,
        [truths[p] for p in sorted(truths)] if keep_masks else None,
        seconds if timed else None,
    )
