"""Prediction with a trained run folder."""

from ldseg.inference.predictor import Prediction, Predictor

__all__ = ["Prediction", "Predictor"]
