"""``check_outputs``: outputs against inputs, run-folder files and each other, before writing."""

import os

import pytest

from ldseg.errors import LDSegError
from ldseg.runs.guard import check_outputs


def test_an_output_may_be_new_or_replace_a_file_that_is_not_protected(tmp_path):
    (tmp_path / "old.png").write_bytes(b"previous result")
    check_outputs([tmp_path / "new.png", tmp_path / "old.png"], [tmp_path / "in.png"])


def test_an_input_by_another_spelling_symlink_or_hard_link(tmp_path):
    image = tmp_path / "in" / "a.png"
    image.parent.mkdir()
    image.write_bytes(b"x")
    os.symlink(image, tmp_path / "link.png")
    os.link(image, tmp_path / "hard.png")
    for output in (tmp_path / "in" / ".." / "in" / "a.png", tmp_path / "link.png"):
        with pytest.raises(LDSegError, match="would overwrite the input"):
            check_outputs([output], [image])
    with pytest.raises(LDSegError, match="would overwrite the input"):
        check_outputs([tmp_path / "hard.png"], [tmp_path / "in"])  # a folder: all its files


def test_run_files_are_protected_unless_owned(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text("{}")
    (run / "best.safetensors").write_bytes(b"")
    with pytest.raises(LDSegError, match=f"{run / 'metrics.csv'}: would overwrite a file of the"):
        check_outputs([run / "metrics.csv"])
    check_outputs([run / "metrics.csv"], own=[run])
    check_outputs([run / "notes.md"])  # not a run file
    (tmp_path / "config.json").write_text("{}")  # a config alone does not make a run
    check_outputs([tmp_path / "config.json"])


def test_two_outputs_of_one_path_name_their_sources(tmp_path):
    outputs = [(tmp_path / "a.png", "in/a.png"), (tmp_path / "x" / ".." / "a.png", "in/a.jpg")]
    with pytest.raises(LDSegError, match=r"same file .*a\.png \(made from in/a\.png and in/a\.jpg"):
        check_outputs(outputs)
