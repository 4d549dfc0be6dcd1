"""Prediction with a trained run folder: the predictor, its sampling pipeline, ensembles of
runs, what it writes, and export to one traced file."""

from ldseg.inference.ensemble import Ensemble
from ldseg.inference.pipeline import SegmentationPipeline, make_inferer
from ldseg.inference.predictor import Predictor
from ldseg.inference.results import Prediction, SamplingOptions, Trajectory

__all__ = [
    "Ensemble",
    "Prediction",
    "Predictor",
    "SamplingOptions",
    "SegmentationPipeline",
    "Trajectory",
    "make_inferer",
]
