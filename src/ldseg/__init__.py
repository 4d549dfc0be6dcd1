"""LDSeg: latent diffusion for medical image segmentation (Zaman et al., arXiv 2407.12952)."""

__version__ = "0.1.0"
