"""Prediction with a trained run folder: the predictor, its sampling pipeline, what it writes,
and export to one traced file."""

from ldseg.inference.pipeline import SegmentationPipeline, make_inferer
from ldseg.inference.predictor import Predictor
from ldseg.inference.results import Prediction, SamplingOptions, Trajectory

__all__ = [
    "Prediction",
    "Predictor",
    "SamplingOptions",
    "SegmentationPipeline",
    "Trajectory",
    "make_inferer",
]
