"""The segmentation pipeline: the inferer the data settings choose, each image's own seeded
noise, and sliding-window inference (``data.resize: false``) on an image twice the window size:
the same probabilities as whole-image inference within a stated tolerance, and the network
never sees more than one window."""

import numpy as np
import pytest
import torch
from monai.inferers import SimpleInferer, SlidingWindowInferer

from ldseg.config import Config
from ldseg.data.synthetic import synthetic_case
from ldseg.inference import Predictor, make_inferer
from ldseg.models import build_model
from tests.helpers import tiny_config


def resunet_config(window: tuple[int, ...]) -> Config:
    """A ResUNet with one stride-2 stage (receptive field 15 pixels), windows of ``window``
    overlapping by half; an image twice the window takes 3 windows per axis."""
    config = tiny_config(size=window)
    config.model.name = "resunet"
    config.model.in_channels = 1
    config.model.channels = [4, 8]
    config.model.latent_factor = [2] * len(window)
    config.model.dropout = 0.0
    config.data.resize = False
    config.data.window_overlap = 0.5
    return config


def whole_image_config(config: Config, size: tuple[int, ...]) -> Config:
    """The same run segmenting a ``size`` image in one piece."""
    whole = Config.from_dict(config.to_dict())
    whole.data.resize, whole.data.size = True, list(size)
    return whole


def largest_activation(model: torch.nn.Module, run) -> int:
    """The most elements of any tensor a layer of ``model`` outputs while ``run()`` runs."""
    largest = [0]

    def hook(module, inputs, output) -> None:
        if torch.is_tensor(output):
            largest[0] = max(largest[0], output.numel())

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    try:
        run()
    finally:
        for handle in handles:
            handle.remove()
    return largest[0]


@pytest.mark.parametrize(
    ("window", "mean_tol", "agreement"), [((32, 32), 2e-3, 0.99), ((24, 24, 24), 5e-3, 0.97)]
)
def test_sliding_window_matches_whole_image(window, mean_tol, agreement):
    """Why a tolerance: each window is zero-padded at its edges, so pixels within the receptive
    field (15 pixels) of a window edge inside the image see padding where the whole image has
    content; the Gaussian blend weights those pixels down, not to zero. Nothing else differs:
    the model is deterministic (no diffusion noise, batch norm in eval mode) and the windows
    start on multiples of its latent factor. Measured over seeds 0-4: mean |difference| of
    the probabilities 2e-4 to 6e-4 in 2D and 2.3e-3 to 3.3e-3 in 3D (24-voxel windows are
    less than twice the receptive field); the argmax agrees on 99.8-99.9 % and 97.7-99.4 %
    of the pixels. An untrained network is a hard case: training makes it rely less on what
    lies at a window's edge. A window a quarter out of place changes the probabilities by
    0.04 to 0.07 on average (the control below), 8 or more times the tolerance."""
    torch.manual_seed(0)
    config = resunet_config(window)
    model = build_model(config)
    size = tuple(2 * s for s in window)
    image, _ = synthetic_case(np.random.default_rng(0), size, 3)
    sliding = Predictor(model, config)
    whole = Predictor(model, whole_image_config(config, size))
    # Untrained, the network's probabilities hardly vary over the image; batch-norm statistics
    # taken from this image (then frozen in eval mode) make them follow its content.
    for layer in model.modules():
        if isinstance(layer, torch.nn.modules.batchnorm._BatchNorm):
            layer.momentum = 1.0
    with torch.no_grad():
        model.train().net(sliding.adapter.array_inputs(image).images)
    model.eval()

    seen = []
    sample = model.sample
    model.sample = lambda x, *a, **k: seen.append(tuple(x.shape)) or sample(x, *a, **k)
    by_window = sliding.predict_array(image).probabilities
    assert seen == [(1, 1, *window)] * 3 ** len(window)  # 3 windows per axis, never more
    in_one_piece = whole.predict_array(image).probabilities
    assert seen[-1] == (1, 1, *size)

    difference = np.abs(by_window - in_one_piece)
    assert difference.mean() < mean_tol
    same_class = (by_window.argmax(0) == in_one_piece.argmax(0)).mean()
    assert same_class >= agreement
    shift = tuple(s // 4 for s in window)  # the control: a quarter window out of place
    misplaced = np.roll(in_one_piece, shift, axis=tuple(range(1, len(size) + 1)))
    assert np.abs(misplaced - in_one_piece).mean() > 8 * mean_tol


@pytest.mark.parametrize(("window", "factor"), [((32, 32), [8, 8]), ((16, 16, 8), [8, 8, 4])])
def test_ldseg_sees_one_window_at_a_time(window, factor):
    """Memory is bounded by the window: segmenting an image twice the window per axis, no
    layer of LDSeg (encoders, denoiser, decoder) outputs more than it does for one window."""
    torch.manual_seed(0)
    config = tiny_config(size=window)
    config.model.in_channels = 1
    config.model.latent_factor = factor
    config.data.resize = False
    model = build_model(config)
    big = tuple(2 * s for s in window)
    image = np.random.default_rng(0).random(big, dtype=np.float32)
    sliding = Predictor(model, config)
    one_window = Predictor(model, whole_image_config(config, window))
    by_window = largest_activation(model, lambda: sliding.predict_array(image))
    corner = image[tuple(slice(0, s) for s in window)]
    single = largest_activation(model, lambda: one_window.predict_array(corner))
    in_one_piece = largest_activation(
        model, lambda: Predictor(model, whole_image_config(config, big)).predict_array(image)
    )
    assert by_window == single
    assert in_one_piece == 2 ** len(window) * single  # what the windows save


def test_the_inferer_follows_the_data_settings():
    config = tiny_config()
    assert isinstance(make_inferer(config.data), SimpleInferer)
    config.data.resize = False
    windows = make_inferer(config.data)
    assert isinstance(windows, SlidingWindowInferer) and tuple(windows.roi_size) == (32, 32)
    assert windows.overlap == config.data.window_overlap and windows.mode == "gaussian"


@pytest.mark.parametrize("name", ["ldseg", "pixel-diffusion"])
def test_every_diffusion_model_samples_each_image_from_its_own_seed(name):
    """Batched images get the noise of their own seed, for pixel diffusion too (its batch used
    to share the first image's generator, so batching changed its masks)."""
    torch.manual_seed(0)
    config = tiny_config()
    config.model.name, config.model.in_channels = name, 1
    model = build_model(config).eval()
    predictor = Predictor(model, config)
    images = torch.rand(3, 1, 32, 32, generator=torch.Generator().manual_seed(1))
    batch, _ = predictor.pipeline(steps=3)(images, seeds=[7, 8, 9])
    for image, probs, seed in zip(images, batch, [7, 8, 9], strict=True):
        alone, _ = predictor.pipeline(steps=3)(image[None], seeds=[seed])
        torch.testing.assert_close(probs, alone[0], atol=1e-5, rtol=0)
    assert not torch.allclose(batch[0], batch[1], atol=1e-3)  # the seeds matter


@pytest.mark.parametrize("name", ["ldseg", "resunet"])
def test_windows_of_several_images_share_a_call_without_changing_a_result(name):
    """One seed for every image (a volume's slices) and a noise-free sampler: the windows of
    the batch's images go through the model as many at a time as there are images, and each image
    gets what it gets alone."""
    torch.manual_seed(0)
    config = tiny_config(size=(16, 16))
    config.model.name, config.model.in_channels = name, 1
    config.data.resize = False
    model = build_model(config).eval()
    pipeline = Predictor(model, config).pipeline(steps=2)
    calls = []
    original = model.sample
    images = torch.rand(3, 1, 24, 20, generator=torch.Generator().manual_seed(1))
    batch, _ = pipeline(images, seeds=[5, 5, 5])
    alone = [pipeline(image[None], seeds=[5])[0][0] for image in images]
    for probs, single in zip(batch, alone, strict=True):
        torch.testing.assert_close(probs, single, atol=1e-5, rtol=0)
    model.sample = lambda x, *a, **k: calls.append(len(x)) or original(x, *a, **k)
    pipeline(images, seeds=[5, 5, 5])
    assert calls == [3] * 4  # the 4 windows of each of the 3 images, 3 windows a call
    if name == "ldseg":
        calls.clear()
        pipeline(images, seeds=[5, 6, 7])  # their own seeds: a window at a time
        assert calls == [1] * 12
