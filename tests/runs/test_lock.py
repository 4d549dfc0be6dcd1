"""The run-folder lock: a second training into a folder in use stops at once; the first one
finishes and keeps its files; a lock left by a killed process is found and handled."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from ldseg.cli import main
from ldseg.errors import RunFolderError
from ldseg.runs.lock import LOCK_NAME, RunLock
from tests.helpers import tiny_config, tiny_dataset

HOLD = """
import sys, time
from ldseg.runs.lock import RunLock
lock = RunLock(sys.argv[1])
lock.acquire()
print("locked", flush=True)
time.sleep(600)
"""


def start(*args: str, script: str | None = None) -> subprocess.Popen:
    command = [sys.executable, "-c", script] if script else [sys.executable, "-m", "ldseg"]
    return subprocess.Popen(
        [*command, *args],
        env=os.environ | {"OMP_NUM_THREADS": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_lock_is_exclusive_and_removed_on_release(tmp_path):
    run = tmp_path / "run"
    with RunLock(run):
        holder = json.loads((run / LOCK_NAME).read_text())
        assert holder["pid"] == os.getpid() and holder["host"] == socket.gethostname()
        with pytest.raises(RunFolderError, match=rf"{run} is in use by pid {os.getpid()} on "):
            RunLock(run).acquire()
    assert not run.exists()  # created by the lock and empty again: removed


def test_two_trainings_into_one_folder(tmp_path, capsys):
    data = tiny_dataset(tmp_path / "data", num_cases=6, size=(32, 32))
    preset = tmp_path / "tiny.json"
    preset.write_text(json.dumps(tiny_config(epochs=4).to_dict()))
    run = tmp_path / "run"
    args = ["train", "--data", str(data), "--config", str(preset), "--out", str(run), "--quiet"]
    first = start(*args, "--seed", "1")
    try:
        deadline = time.monotonic() + 120
        while not (run / LOCK_NAME).exists():
            assert first.poll() is None, first.stderr.read()
            assert time.monotonic() < deadline
            time.sleep(0.01)
        started = time.monotonic()
        assert main([*args, "--seed", "2"]) == 1
        assert time.monotonic() - started < 30  # at once, not after the first one
        err = capsys.readouterr().err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1
        assert f"ldseg: error: {run} is in use by pid {first.pid} on " in err
        assert first.poll() is None  # the first one goes on
        assert main(["train", "--resume", str(run), "--quiet"]) == 1  # so does a resume
        assert f"{run} is in use by pid {first.pid}" in capsys.readouterr().err
        assert first.wait(timeout=300) == 0, first.stderr.read()
    finally:
        first.kill()
        first.wait()
    assert json.loads((run / "config.json").read_text())["train"]["seed"] == 1
    assert {"best.safetensors", "metrics.csv", "curves.png"} <= {p.name for p in run.iterdir()}
    assert not (run / LOCK_NAME).exists()


def test_a_lock_left_by_a_killed_process_is_taken_over(tmp_path, capsys):
    run = tmp_path / "run"
    holder = start(str(run), script=HOLD)
    try:
        assert holder.stdout.readline().strip() == "locked", holder.stderr.read()
        with pytest.raises(RunFolderError, match=f"in use by pid {holder.pid}"):
            RunLock(run).acquire()
        os.kill(holder.pid, signal.SIGKILL)
    finally:
        holder.kill()
        holder.wait()
    assert json.loads((run / LOCK_NAME).read_text())["pid"] == holder.pid  # left behind
    with RunLock(run):
        err = capsys.readouterr().err
        assert f"stale lock of pid {holder.pid} on {socket.gethostname()}" in err
        assert "taken over" in err
        assert json.loads((run / LOCK_NAME).read_text())["pid"] == os.getpid()


def test_a_lock_that_cannot_be_told_stale_says_how_to_clear_it(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    left = {"pid": 4242, "host": "another-host", "since": "2026-01-01 10:00:00 UTC"}
    (run / LOCK_NAME).write_text(json.dumps(left))
    message = (
        rf"{run / LOCK_NAME}: left by pid 4242 on another-host since 2026-01-01 10:00:00 UTC, "
        rf"which may still be running; if no process uses {run}, delete {run / LOCK_NAME}"
    )
    with pytest.raises(RunFolderError, match=message):
        RunLock(run).acquire()
    assert json.loads((run / LOCK_NAME).read_text()) == left  # untouched
    (run / LOCK_NAME).unlink()  # as the message says
    with RunLock(run):
        pass
