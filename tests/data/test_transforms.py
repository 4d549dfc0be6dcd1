"""Preprocessing: the grid the network sees and the intensity normalisation."""

import pytest
import torch
from monai.transforms import NormalizeIntensity, ScaleIntensity, ScaleIntensityRangePercentiles

from ldseg.config import DataConfig
from ldseg.data.transforms import normalize_batch, normalize_intensity, plain_tensor, target_shape


def test_target_shape():
    native = DataConfig(size=[16, 16, 8], resize=False)
    assert target_shape((30, 20, 7), (0.7, 1.3, 2.5), native) == (30, 20, 7)
    native.spacing = [1.4, 1.3, 5.0]
    assert target_shape((30, 20, 7), (0.7, 1.3, 2.5), native) == (15, 20, 4)
    assert target_shape((30, 20, 7), (1, 1, 1), DataConfig(size=[16, 16, 8])) == (16, 16, 8)


MONAI = {
    "minmax": ScaleIntensity(minv=0.0, maxv=1.0, channel_wise=True),
    "zscore": NormalizeIntensity(channel_wise=True),
    "percentile": ScaleIntensityRangePercentiles(
        lower=0.5, upper=99.5, b_min=0.0, b_max=1.0, clip=True, channel_wise=True
    ),
}


@pytest.mark.parametrize("mode", ["zscore", "minmax", "percentile"])
@pytest.mark.parametrize("shape", [(3, 20, 12), (2, 300, 250), (1, 24, 20, 9)])
def test_the_intensity_normalisation_is_monai_s_to_the_bit(mode, shape):
    """One implementation (``normalize_batch``, which export traces) computes, image by image,
    exactly what MONAI's transforms do; for a batch the statistics may differ in the last bit."""
    images = torch.rand(2, *shape, generator=torch.Generator().manual_seed(0)) * 300 - 50
    images[1, -1] = 7.0  # a constant channel
    batch = normalize_batch(images, mode)
    for image, normalised in zip(images, batch, strict=True):
        expected = plain_tensor(MONAI[mode](image.clone()), torch.float32)
        assert torch.equal(normalize_intensity(image, mode), expected)
        torch.testing.assert_close(normalised, expected, atol=1e-6, rtol=1e-6)
