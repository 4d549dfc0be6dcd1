"""The EMA copy: the warm-up decay ``min(decay, (1 + n) / (10 + n))`` applied to every float
parameter and buffer, integer buffers averaged and truncated, checked against a plain loop; what
it stands in for when the model samples."""

import torch
from torch import nn

from ldseg.models import build_model
from ldseg.training.ema import ema_model, ema_source, using_ema
from tests.helpers import tiny_config


def test_ema_follows_the_warm_up_recurrence():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    ema = ema_model(net, decay=0.7)
    expected = None
    for n in range(30):  # the warm-up, then the decay: (1 + n) / (10 + n) >= 0.7 from n = 20
        with torch.no_grad():
            for tensor in net.state_dict().values():
                tensor.copy_(torch.randint_like(tensor, 0, 50))
        current = {k: v.clone() for k, v in net.state_dict().items()}
        if expected is None:  # the first update copies
            expected = {k: v.double() for k, v in current.items()}
        else:
            d = min(0.7, (1 + n) / (10 + n))
            for k, v in current.items():
                step = d * expected[k] + (1 - d) * v.double()
                expected[k] = step if v.is_floating_point() else step.trunc()
        ema.update_parameters(net)
    averaged = ema.module.state_dict()
    assert int(ema.n_averaged) == 30
    for k, v in expected.items():
        got = averaged[k]
        assert got.dtype == net.state_dict()[k].dtype
        torch.testing.assert_close(got.double(), v, rtol=1e-5, atol=1e-4, msg=k)
    assert averaged["1.num_batches_tracked"].item() == int(expected["1.num_batches_tracked"])


def test_the_whole_model_as_target_samples_with_the_copy_itself():
    config = tiny_config(ema_whole_model=True)
    config.model.in_channels = 1
    model = build_model(config)
    assert model.ema_target == "" and ema_source(model) is model
    ema = ema_model(model, decay=0.9)
    with using_ema(model, ema.module) as used:
        assert used is ema.module
    model.ema_target = "denoiser"  # the default: the copy stands in for the target alone
    original, copy = model.denoiser, ema_model(model.denoiser, decay=0.9).module
    with using_ema(model, copy) as used:
        assert used is model and model.denoiser is copy
    assert model.denoiser is original and ema_source(model) is original
