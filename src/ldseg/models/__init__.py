"""Models: LDSeg, its ablations and the baselines, behind one interface (``Segmenter``) and one
registry (``MODELS``, whose names ``MODEL_NAMES`` a run's config may choose)."""

from ldseg.models.ablations import DownsampledImageEncoder, DownsampledLabelEncoder
from ldseg.models.base import Segmenter, TrainingLoss
from ldseg.models.deterministic import DeterministicSegmenter
from ldseg.models.ldseg import DECODER_INPUTS, LDSeg
from ldseg.models.pixel_diffusion import PixelDiffusion
from ldseg.models.registry import MODEL_NAMES, MODELS, as_built, build_model
from ldseg.models.resunet import ResUNet
from ldseg.models.two_stage import TwoStageLDSeg

__all__ = [
    "DECODER_INPUTS",
    "MODELS",
    "MODEL_NAMES",
    "DeterministicSegmenter",
    "DownsampledImageEncoder",
    "DownsampledLabelEncoder",
    "LDSeg",
    "PixelDiffusion",
    "ResUNet",
    "Segmenter",
    "TrainingLoss",
    "TwoStageLDSeg",
    "as_built",
    "build_model",
]
