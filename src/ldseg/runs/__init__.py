"""Run folders: the files a training run writes, and loading a trained model from them."""

from ldseg.runs.folder import WEIGHTS, RunFolder

__all__ = ["WEIGHTS", "RunFolder"]
