"""The trainer's optimiser (fused Adam, stepping as plain Adam does) and its schedules."""

import copy
import csv
import json
import math
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from ldseg.config import TrainConfig
from ldseg.data.layouts import find_pairs
from ldseg.errors import RunFolderError
from ldseg.runs.state import restore_schedule
from ldseg.training import train
from ldseg.training.optimizer import (
    CosineOverRun,
    ExponentialPerEpoch,
    build_optimizer,
    build_schedule,
    run_progress,
)
from tests.helpers import tiny_config, tiny_dataset

NO_SCALER = torch.amp.GradScaler("cpu", enabled=False)


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


def test_cosine_anneals_over_the_run_and_restores_from_a_saved_state():
    net = nn.Linear(2, 1)
    schedule = CosineOverRun(build_optimizer(net, lr=0.4))
    assert schedule.get_last_lr() == [0.4]
    lrs = []
    for progress in (0.25, 0.5, 1.0, 1.7):
        schedule.step(progress)
        lrs.append(schedule.get_last_lr()[0])
    assert lrs == pytest.approx([0.2 * (1 + math.cos(math.pi / 4)), 0.2, 0.0, 0.0])
    schedule.step(0.5)
    saved = json.loads(json.dumps(schedule.state_dict()))  # the training state stores JSON
    fresh = CosineOverRun(build_optimizer(nn.Linear(2, 1), lr=0.4))
    restore_schedule(SimpleNamespace(scheduler=saved, scaler={}), fresh, NO_SCALER, Path("s"))
    assert fresh.optimizer.param_groups[0]["lr"] == pytest.approx(0.2)
    with pytest.raises(RunFolderError, match="scheduler does not match"):
        exponential = ExponentialPerEpoch(build_optimizer(nn.Linear(2, 1), lr=0.4), 0.9)
        restore_schedule(
            SimpleNamespace(scheduler=saved, scaler={}), exponential, NO_SCALER, Path("s")
        )


def test_the_run_ends_with_whichever_of_epochs_and_budget_comes_first():
    train = TrainConfig(epochs=10)
    assert run_progress(train, 5, 1e6) == 0.5  # no budget: epochs alone
    train.max_minutes = 2.0
    assert run_progress(train, 5, 30.0) == 0.5
    assert run_progress(train, 5, 90.0) == 0.75  # the budget runs out first
    assert isinstance(
        build_schedule(build_optimizer(nn.Linear(2, 1), 0.1), train), ExponentialPerEpoch
    )


def test_a_cosine_run_logs_its_annealed_rates_per_epoch(tmp_path, one_thread):
    pairs = find_pairs(tiny_dataset(tmp_path / "data", num_cases=4, size=(32, 32)))
    config = tiny_config(epochs=4, lr_schedule="cosine")
    run = train(config, pairs, None, tmp_path / "run", False).run_dir
    with open(run / "metrics.csv") as f:
        lrs = [float(row["lr"]) for row in csv.DictReader(f)]
    want = [config.train.lr * 0.5 * (1 + math.cos(math.pi * e / 4)) for e in range(4)]
    assert lrs == pytest.approx(want)
    assert json.loads((run / "config.json").read_text())["train"]["lr_schedule"] == "cosine"
