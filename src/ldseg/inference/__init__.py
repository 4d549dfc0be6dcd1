"""Prediction with a trained run folder: the predictor, its sampling pipeline, ensembles of
runs, what it writes, segmenting and scoring labelled cases, and export to one traced file."""

from ldseg.inference.ensemble import Ensemble
from ldseg.inference.pipeline import SegmentationPipeline, make_inferer
from ldseg.inference.predictor import Predictor
from ldseg.inference.results import Prediction, SamplingOptions, Trajectory
from ldseg.inference.scoring import ScoredCases, segment_and_score

__all__ = [
    "Ensemble",
    "Prediction",
    "Predictor",
    "SamplingOptions",
    "ScoredCases",
    "SegmentationPipeline",
    "Trajectory",
    "make_inferer",
    "segment_and_score",
]
