"""Formats (16-bit TIFF, MHA/MHD/NRRD), spacing, and predictions on the input's exact grid."""

from ldseg.config import DataConfig
from ldseg.data.transforms import target_shape


def test_target_shape():
    native = DataConfig(size=[16, 16, 8], resize=False)
    assert target_shape((30, 20, 7), (0.7, 1.3, 2.5), native) == (30, 20, 7)
    native.spacing = [1.4, 1.3, 5.0]
    assert target_shape((30, 20, 7), (0.7, 1.3, 2.5), native) == (15, 20, 4)
    assert target_shape((30, 20, 7), (1, 1, 1), DataConfig(size=[16, 16, 8])) == (16, 16, 8)
