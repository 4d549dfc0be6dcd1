"""The trainer's optimiser: Adam over every parameter, fused, stepping as plain Adam does."""

import copy

import torch
from torch import nn

from ldseg.training.optimizer import build_optimizer


def test_fused_adam_steps_as_plain_adam():
    torch.manual_seed(0)
    fused_net = nn.Sequential(nn.Conv2d(1, 3, 3), nn.GroupNorm(1, 3), nn.Conv2d(3, 2, 1))
    plain_net = copy.deepcopy(fused_net)
    start = fused_net[0].weight.detach().clone()
    fused = build_optimizer(fused_net, lr=1e-2)
    plain = torch.optim.Adam(plain_net.parameters(), lr=1e-2)
    assert fused.defaults["fused"] and fused.defaults["lr"] == 1e-2
    assert sum(len(g["params"]) for g in fused.param_groups) == len(list(fused_net.parameters()))
    for step in range(5):
        x = torch.randn(2, 1, 8, 8, generator=torch.Generator().manual_seed(step))
        for net, optimizer in ((fused_net, fused), (plain_net, plain)):
            optimizer.zero_grad()
            net(x).square().mean().backward()
            optimizer.step()
    for a, b in zip(fused_net.parameters(), plain_net.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert (fused_net[0].weight - start).abs().max() > 1e-3  # the steps moved the weights
