"""The four LDSeg networks, each generic over ``spatial_dims`` 2 and 3."""

from ldseg.nets.denoiser import LatentDenoiser
from ldseg.nets.image_encoder import ImageEncoder
from ldseg.nets.label_decoder import LabelDecoder
from ldseg.nets.label_encoder import LabelEncoder

__all__ = ["ImageEncoder", "LabelDecoder", "LabelEncoder", "LatentDenoiser"]
