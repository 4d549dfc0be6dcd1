"""Baselines and ablations trained and evaluated in the same harness as LDSeg."""

from ldseg.baselines.ablations import DownsampledImageEncoder, DownsampledLabelEncoder
from ldseg.baselines.resunet import ResUNet
from ldseg.baselines.segmenters import DeterministicSegmenter, PixelDiffusion
from ldseg.baselines.two_stage import TwoStageLDSeg

__all__ = [
    "DeterministicSegmenter",
    "DownsampledImageEncoder",
    "DownsampledLabelEncoder",
    "PixelDiffusion",
    "ResUNet",
    "TwoStageLDSeg",
]
