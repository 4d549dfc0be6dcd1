"""Data-parallel training: ``torchrun`` with 2 CPU processes (gloo) against one process."""

import csv
import json
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from ldseg import cli
from ldseg.errors import LDSegError
from ldseg.training.distributed import process_group
from tests.helpers import tiny_config, tiny_dataset

# Runs ``ldseg train`` (argv[2:]) like ``torchrun -m ldseg`` does, then saves this process's
# final model state to argv[1]/rank<RANK>.safetensors so the ranks can be compared.
LAUNCHER = """
import os, sys
from safetensors.torch import save_file
from ldseg import cli
from ldseg.training import trainer

models = []
build = trainer.build_model
trainer.build_model = lambda config: models.append(build(config)) or models[-1]
code = cli.main(sys.argv[2:])
state = {k: v.contiguous() for k, v in models[0].state_dict().items()}
save_file(state, os.path.join(sys.argv[1], "rank" + os.environ["RANK"] + ".safetensors"))
sys.exit(code)
"""

# Adam moves a weight by up to lr = 1e-3 a step; the two runs differ only by float rounding
# of the same gradients (measured: 7e-6 after 4 steps; one process with half the batch: 8e-3).
WEIGHT_TOLERANCE = 1e-4


def losses(run):
    """Training loss and validation Dice of every epoch."""
    with open(run / "metrics.csv") as f:
        return [float(r[k]) for r in csv.DictReader(f) for k in ("loss", "val_mean_dice")]


@pytest.mark.skipif(
    torch.cuda.is_available(), reason="a CPU (gloo) check: here the trainer would use the GPU"
)
def test_two_processes_equal_one_process_on_the_same_global_batch(tmp_path, one_thread):
    data = tiny_dataset(tmp_path / "data", num_cases=8, size=(32, 32))
    val = tiny_dataset(tmp_path / "val", num_cases=2, size=(32, 32), seed=1)
    preset = tmp_path / "tiny.json"
    preset.write_text(json.dumps(tiny_config(epochs=2).to_dict()))
    launcher = tmp_path / "launch.py"
    launcher.write_text(LAUNCHER)
    # pixel-diffusion: no batch norm, whose statistics DDP keeps per process.
    args = ["train", "--data", str(data), "--val-data", str(val), "--config", str(preset)]
    args += ["--model", "pixel-diffusion", "--quiet"]
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node"]
    ddp_args = [*args, "--out", str(tmp_path / "ddp"), "--batch-size", "2"]
    done = subprocess.run(
        [*torchrun, "2", str(launcher), str(tmp_path), *ddp_args],
        env=os.environ | {"OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("trained 2 epochs") == 1  # rank 0 reports
    rank0, rank1 = (load_file(tmp_path / f"rank{r}.safetensors") for r in (0, 1))
    for key in rank0:
        assert torch.equal(rank0[key], rank1[key]), key

    assert cli.main([*args, "--out", str(tmp_path / "one"), "--batch-size", "4"]) == 0
    ddp, one = (load_file(tmp_path / run / "last.safetensors") for run in ("ddp", "one"))
    assert ddp.keys() == one.keys() and any(k.startswith("ema.") for k in ddp)
    for key in ddp:
        torch.testing.assert_close(ddp[key], one[key], atol=WEIGHT_TOLERANCE, rtol=0)
    for key, value in rank0.items():
        assert torch.equal(ddp[f"model.{key}"], value)  # rank 0 saved its trained weights
    assert losses(tmp_path / "ddp") == pytest.approx(losses(tmp_path / "one"), rel=1e-5)

    # The tolerance tells runs apart: one process with half the global batch is far off.
    assert cli.main([*args, "--out", str(tmp_path / "half"), "--batch-size", "2"]) == 0
    half = load_file(tmp_path / "half" / "last.safetensors")
    assert max((half[k] - one[k]).abs().max() for k in one) > 10 * WEIGHT_TOLERANCE


def test_more_processes_than_gpus_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(LDSegError, match="LOCAL_RANK 1: this node has 1 GPU"), process_group():
        pass
