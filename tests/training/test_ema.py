"""The EMA copy: the warm-up decay ``min(decay, (1 + n) / (10 + n))`` applied to every float
parameter and buffer, integer buffers averaged and truncated, checked against a plain loop."""

import torch
from torch import nn

from ldseg.training.ema import ema_model


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
