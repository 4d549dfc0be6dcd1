"""``ldseg train --folds N --fold K``: a fold of the training cases by patient validates the run,
``splits.json`` in the run folder, ``--splits`` reuses it; bad fold options are refused in one
line before anything is written."""

import json

import pytest

from ldseg.cli import main
from ldseg.data.folds import case_group
from ldseg.runs import RunFolder
from tests.helpers import train_folds


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """Five patients with two frames each, a 1-epoch preset, fold 0 of 3 trained."""
    root = tmp_path_factory.mktemp("folds")
    _, args = train_folds(root, patients=5, folds=3, trained=[0])
    return root, args


def test_a_fold_run_validates_on_its_fold_and_records_the_split(setup):
    root, _ = setup
    folder = RunFolder(root / "fold0")
    splits = json.loads(folder.splits_path.read_text())
    assert len(splits) == 3
    config = folder.load_config()
    assert (config.data.folds, config.data.fold) == (3, 0)
    train, val = folder.data_lists()
    assert sorted(p.stem for p in val) == splits[0]["val"]
    assert sorted(p.stem for p in train) == splits[0]["train"]
    groups = [{case_group(s) for s in fold["val"]} for fold in splits]
    assert sum(len(g) for g in groups) == 5 and len(set().union(*groups)) == 5  # by patient


def test_every_fold_gets_the_same_split(setup):
    root, args = setup
    first = (root / "fold0" / "splits.json").read_bytes()
    assert main([*args, "--folds", "3", "--fold", "2", "--out", str(root / "fold2")]) == 0
    assert (root / "fold2" / "splits.json").read_bytes() == first  # computed again: identical
    reuse = ["--splits", str(root / "fold0" / "splits.json"), "--fold", "1"]
    assert main([*args, *reuse, "--out", str(root / "fold1")]) == 0
    assert (root / "fold1" / "splits.json").read_bytes() == first
    _, val = RunFolder(root / "fold1").data_lists()
    assert sorted(p.stem for p in val) == json.loads(first)[1]["val"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--folds", "3", "--fold", "3"], "--fold 3: outside 0..2 (--folds 3)"),
        (["--folds", "3"], "--folds needs --fold K, the fold (0..2)"),
        (["--fold", "1"], "--fold needs --folds N (or --splits FILE)"),
        (["--folds", "11", "--fold", "0"], "--folds 11: the training data has only 5 patients"),
        (["--folds", "2", "--fold", "0", "--val-data", "{data}"], "drop --val-data"),
        (["--splits", "{splits}", "--fold", "5"], "--fold 5: outside 0..2 (--folds 3)"),
        (["--splits", "{splits}", "--folds", "2", "--fold", "0"], "{splits} has 3 folds"),
        (["--splits", "{data}/images/patient001_frame01.png", "--fold", "0"], "cannot read"),
    ],
)
def test_bad_fold_options_are_one_line_and_write_nothing(setup, tmp_path, capsys, options, message):
    root, args = setup
    fill = {"data": str(root / "data"), "splits": str(root / "fold0" / "splits.json")}
    options = [o.format(**fill) for o in options]
    assert main([*args, *options, "--out", str(tmp_path / "run")]) == 1
    error = capsys.readouterr().err.strip()
    assert message.format(**fill) in error and len(error.splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_fold_count_below_two_is_refused_where_it_is_parsed(setup, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([*setup[1], "--folds", "1", "--fold", "0", "--out", "x"])
    assert exit_.value.code == 2
    assert "argument --folds: must be at least 2" in capsys.readouterr().err


def test_resume_refuses_fold_options(setup, capsys):
    root, _ = setup
    assert main(["train", "--resume", str(root / "fold0"), "--fold", "1"]) == 1
    assert "drop --fold" in capsys.readouterr().err
