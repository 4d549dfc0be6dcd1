"""Kill-safe checkpoints and ``ldseg train --resume``; a non-finite loss stops training."""

import csv
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors import safe_open

from ldseg import cli
from ldseg.errors import LDSegError, RunFolderError
from ldseg.models import LDSeg
from ldseg.runs import RunFolder
from ldseg.runs.state import read_progress
from ldseg.runs.weights import load_weights, save_weights
from ldseg.training import Trainer, resume
from tests.helpers import tiny_config, tiny_dataset

STATE_FILE = RunFolder.STATE
EPOCHS = 3

# Runs ``ldseg train`` (argv[1:]) but stalls half-way through writing the epoch-2 training
# state, for the test to kill it there.
STALL_IN_STATE_WRITE = """
import json, os, sys, time
from ldseg import cli
from ldseg.runs import weights

real_save_file = weights.save_file

def save_file(tensors, path, metadata=None):
    real_save_file(tensors, path, metadata=metadata)
    if json.loads((metadata or {}).get("progress", "{}")).get("epoch") == 2:
        os.truncate(path, os.path.getsize(path) // 2)
        print("writing", path, flush=True)
        time.sleep(600)

weights.save_file = save_file
sys.exit(cli.main(sys.argv[1:]))
"""


@pytest.fixture(scope="module")
def setup(tmp_path_factory, one_thread):
    """Data, a preset and an uninterrupted run of ``EPOCHS`` epochs."""
    root = tmp_path_factory.mktemp("resume")
    data = tiny_dataset(root / "data", num_cases=8, size=(32, 32))
    val = tiny_dataset(root / "val", num_cases=2, size=(32, 32), seed=1)
    preset = root / "tiny.json"
    preset.write_text(json.dumps(tiny_config(epochs=EPOCHS).to_dict()))
    args = ["train", "--data", str(data), "--val-data", str(val), "--config", str(preset)]
    args.append("--quiet")
    assert cli.main([*args, "--out", str(root / "reference")]) == 0
    return root, args


def metrics(run):
    """metrics.csv without the wall-clock column."""
    with open(run / "metrics.csv") as f:
        return [{k: float(v) for k, v in r.items() if k != "seconds"} for r in csv.DictReader(f)]


def assert_same_run(run, reference):
    """Same metrics and weights as the reference (another process: float rounding only)."""
    rows, expected = metrics(run), metrics(reference)
    assert [r["epoch"] for r in rows] == [r["epoch"] for r in expected] == [1, 2, 3]
    for row, want in zip(rows, expected, strict=True):
        assert row == pytest.approx(want, rel=1e-4, abs=1e-6)
    for name in ("last.safetensors", "best.safetensors"):
        got, want = load_weights(run / name), load_weights(reference / name)
        assert got.keys() == want.keys()
        for key in want:
            torch.testing.assert_close(got[key], want[key], atol=1e-5, rtol=1e-4)
    assert read_progress(run / STATE_FILE).finished


def start(args, script=None):
    command = [sys.executable, "-c", script] if script else [sys.executable, "-m", "ldseg"]
    return subprocess.Popen(
        [*command, *args],
        env=os.environ | {"OMP_NUM_THREADS": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_sigkill_mid_epoch_then_resume_equals_an_uninterrupted_run(setup):
    root, args = setup
    run = root / "killed"
    process = start([*args, "--out", str(run)])
    try:
        deadline = time.monotonic() + 300
        while not (run / "metrics.csv").exists():  # written last after epoch 1
            if process.poll() is not None:
                pytest.fail(process.stderr.read())
            assert time.monotonic() < deadline
            time.sleep(0.005)
        os.kill(process.pid, signal.SIGKILL)  # now in epoch 2
    finally:
        process.kill()
        process.wait()
    progress = read_progress(run / STATE_FILE)
    assert progress.epoch == 1 and not progress.finished
    assert cli.main(["train", "--resume", str(run), "--quiet"]) == 0
    assert_same_run(run, root / "reference")


def test_sigkill_during_a_checkpoint_write_keeps_the_previous_one(setup):
    root, args = setup
    run = root / "killed-writing"
    process = start([*args, "--out", str(run)], STALL_IN_STATE_WRITE)
    try:
        line = process.stdout.readline()  # blocks until the write has stalled
        assert line.startswith("writing"), process.stderr.read()
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.kill()
        process.wait()
    temporary = line.split()[1]
    assert os.path.basename(temporary).startswith(f".{STATE_FILE}.")  # never the real name
    with pytest.raises(RunFolderError, match="not a valid safetensors"):
        load_weights(temporary)  # half written
    progress = read_progress(run / STATE_FILE)  # the previous state, whole
    assert progress.epoch == 1 and load_weights(run / STATE_FILE)
    assert cli.main(["train", "--resume", str(run), "--quiet"]) == 0
    assert not os.path.exists(temporary)
    assert_same_run(run, root / "reference")


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(
    setup, tmp_path, monkeypatch, capsys
):
    args = setup[1]
    run = tmp_path / "nan"
    forward, calls = LDSeg.forward, []

    def nan_from_epoch_2(self, *a, **kw):
        loss = forward(self, *a, **kw)
        calls.append(1)
        if len(calls) > 8 // 4:  # 8 cases in batches of 4: epoch 2 has begun
            return loss._replace(total=loss.total * float("nan"))
        return loss

    monkeypatch.setattr(LDSeg, "forward", nan_from_epoch_2)
    assert cli.main([*args, "--out", str(run)]) == 1
    error = capsys.readouterr().err
    assert f"{run}: non-finite loss at epoch 2" in error
    assert "last good checkpoint (epoch 1) is kept" in error
    with safe_open(str(run / "last.safetensors"), framework="pt") as f:
        assert f.metadata()["epoch"] == "1"
    assert read_progress(run / STATE_FILE).epoch == 1
    assert len(metrics(run)) == 1
    assert not list(run.glob(".*"))  # no temporary left
    monkeypatch.setattr(LDSeg, "forward", forward)
    assert resume(run, progress=False).epochs == EPOCHS  # the checkpoint is usable


def test_resume_after_a_kill_in_the_first_epoch_starts_over(setup, tmp_path, monkeypatch):
    root, args = setup
    run = tmp_path / "early"

    def killed(*_):
        raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "train_epoch", killed)
    assert cli.main([*args, "--out", str(run)]) == 130
    assert sorted(p.name for p in run.iterdir()) == ["config.json", "train_data.json"]
    monkeypatch.undo()
    assert cli.main(["train", "--resume", str(run), "--quiet"]) == 0
    assert_same_run(run, root / "reference")


def test_resume_refuses_finished_tampered_and_pickled_runs(setup, tmp_path, capsys):
    root, args = setup
    reference = root / "reference"
    with pytest.raises(RunFolderError, match="training finished at epoch 3 of 3"):
        resume(reference, progress=False)

    run = tmp_path / "run"
    shutil.copytree(reference, run)
    config = json.loads((run / "config.json").read_text())
    config["train"]["epochs"] = 5  # still a valid config
    (run / "config.json").write_text(json.dumps(config))
    with pytest.raises(RunFolderError, match=r"config\.json: changed since training started"):
        resume(run, progress=False)
    config["train"]["exec"] = "import os"
    (run / "config.json").write_text(json.dumps(config))
    with pytest.raises(LDSegError, match="unknown key"):
        resume(run, progress=False)

    shutil.rmtree(run)
    shutil.copytree(reference, run)
    data_list = json.loads((run / "train_data.json").read_text())
    data_list["train"] = data_list["train"][:2]
    (run / "train_data.json").write_text(json.dumps(data_list))
    with pytest.raises(RunFolderError, match=r"train_data\.json: changed since training"):
        resume(run, progress=False)

    shutil.copy(reference / "train_data.json", run / "train_data.json")
    state = load_weights(run / STATE_FILE)
    with safe_open(str(run / STATE_FILE), framework="pt") as f:
        metadata = f.metadata()
    progress = json.loads(metadata["progress"])
    progress["epoch"] = "2"
    save_weights(run / STATE_FILE, state, metadata | {"progress": json.dumps(progress)})
    with pytest.raises(RunFolderError, match="training state epoch must be int"):
        resume(run, progress=False)
    (run / STATE_FILE).write_bytes(pickle.dumps(state))
    with pytest.raises(RunFolderError, match="not a valid safetensors file"):
        resume(run, progress=False)

    assert cli.main(["train", "--resume", str(reference), "--lr", "0.1"]) == 1
    assert "drop --lr" in capsys.readouterr().err
    assert cli.main(args[:3]) == 1
    assert "needs --out" in capsys.readouterr().err
