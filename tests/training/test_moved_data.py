"""``ldseg train --resume RUN --data NEW_ROOT``: a run whose data folder moved resumes with the
same relative paths under the new root, keeping its fold; an older run folder (absolute paths,
no fold keys) still resumes."""

import hashlib
import json
import shutil
from dataclasses import asdict

import pytest

from ldseg import cli
from ldseg.runs import RunFolder
from ldseg.runs.state import STATE_FORMAT, read_progress
from ldseg.runs.weights import load_weights, save_weights
from ldseg.training import Trainer
from tests.helpers import patient_dataset, tiny_config

EPOCHS = 2


@pytest.fixture
def interrupted(tmp_path, monkeypatch, one_thread):
    """Fold 1 of 2 of a 2-epoch run, killed (KeyboardInterrupt) after its first epoch."""
    data = patient_dataset(tmp_path / "old" / "data", patients=4)
    preset = tmp_path / "tiny.json"
    preset.write_text(json.dumps(tiny_config(epochs=EPOCHS).to_dict()))
    train_epoch = Trainer.train_epoch

    def killed_in_epoch_2(self, net, epoch, out_dir):
        if epoch == 2:
            raise KeyboardInterrupt
        return train_epoch(self, net, epoch, out_dir)

    monkeypatch.setattr(Trainer, "train_epoch", killed_in_epoch_2)
    run = tmp_path / "run"
    args = ["train", "--data", str(data), "--config", str(preset), "--out", str(run), "--quiet"]
    assert cli.main([*args, "--folds", "2", "--fold", "1"]) == 130
    monkeypatch.undo()
    assert read_progress(run / RunFolder.STATE).epoch == 1
    return run, data


def test_resume_with_the_data_under_a_new_root(interrupted, tmp_path, capsys):
    run, data = interrupted
    listed = (run / "train_data.json").read_bytes()
    new_root = tmp_path / "moved" / "dataset"
    new_root.parent.mkdir()
    shutil.move(data, new_root)
    assert cli.main(["train", "--resume", str(run), "--quiet"]) == 1
    error = capsys.readouterr().err
    assert "patient00" in error and "missing (moved? give --data NEW_ROOT)" in error

    assert cli.main(["train", "--resume", str(run), "--data", str(tmp_path / "no")]) == 1
    assert f"--data {tmp_path / 'no'}: no such file or folder" in capsys.readouterr().err
    (new_root / "images" / "patient004_frame02.png").rename(tmp_path / "aside.png")
    assert cli.main(["train", "--resume", str(run), "--data", str(new_root), "--quiet"]) == 1
    error = capsys.readouterr().err.strip()
    assert f"{new_root}/images/patient004_frame02.png: missing under the data root" in error
    assert len(error.splitlines()) == 1
    assert read_progress(run / RunFolder.STATE).epoch == 1  # nothing trained or written

    (tmp_path / "aside.png").rename(new_root / "images" / "patient004_frame02.png")
    assert cli.main(["train", "--resume", str(run), "--data", str(new_root), "--quiet"]) == 0
    progress = read_progress(run / RunFolder.STATE)
    assert progress.finished and progress.epoch == EPOCHS
    assert (run / "train_data.json").read_bytes() == listed  # the same relative paths
    config = RunFolder(run).load_config()
    assert (config.data.folds, config.data.fold) == (2, 1)  # the fold is kept
    _, val = RunFolder(run).data_lists(new_root)
    splits = json.loads((run / "splits.json").read_text())
    assert sorted(p.stem for p in val) == splits[1]["val"]
    assert all(p.image.parent == new_root / "images" for p in val)


def test_an_older_run_folder_with_absolute_paths_still_resumes(interrupted, capsys):
    run, data = interrupted
    folder = RunFolder(run)
    lists = json.loads(folder.data_path.read_text())
    root = lists.pop("root")
    for entry in lists["train"] + lists["val"]:
        entry["image"], entry["mask"] = f"{root}/{entry['image']}", f"{root}/{entry['mask']}"
    folder.data_path.write_text(json.dumps(lists))
    config = json.loads(folder.config_path.read_text())
    config["data"] = {k: v for k, v in config["data"].items() if k not in ("folds", "fold")}
    folder.config_path.write_text(json.dumps(config))
    progress = read_progress(folder.state_path)  # the digests an older run recorded
    progress.config_sha256 = hashlib.sha256(folder.config_path.read_bytes()).hexdigest()
    progress.data_sha256 = hashlib.sha256(folder.data_path.read_bytes()).hexdigest()
    metadata = {"format": STATE_FORMAT, "progress": json.dumps(asdict(progress))}
    save_weights(folder.state_path, load_weights(folder.state_path), metadata)

    assert cli.main(["train", "--resume", str(run), "--data", str(data), "--quiet"]) == 1
    assert "records absolute paths (an older run)" in capsys.readouterr().err
    assert cli.main(["train", "--resume", str(run), "--quiet"]) == 0
    assert read_progress(folder.state_path).finished
