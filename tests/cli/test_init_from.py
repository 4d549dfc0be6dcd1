"""``ldseg train --init-from``: bad input is one line naming the option or file, no run folder."""

import re

import pytest

from ldseg.cli import main
from tests.cli.test_bad_input import error_line, good_pairs, make_run, train


def test_init_from_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys):
    data = good_pairs(tmp_path / "data")
    source = make_run(tmp_path / "source")  # 3 classes, tiny widths
    assert train(data, tmp_path / "run", "--classes", "4", "--init-from", str(source)) == 1
    line = error_line(capsys)
    assert re.search(r"--init-from: .*source.*best\.safetensors: weights do not match", line)
    assert not (tmp_path / "run").exists()
    assert train(data, tmp_path / "run", "--init-from", str(tmp_path / "none")) == 1
    assert re.search(r"--init-from: .*none.*does not exist", error_line(capsys))
    assert not (tmp_path / "run").exists()
    assert main(["train", "--resume", str(source), "--init-from", str(source)]) == 1
    assert "drop --init-from" in error_line(capsys)


def test_init_from_trains_from_the_run(tmp_path, capsys):
    data = good_pairs(tmp_path / "data")
    assert train(data, tmp_path / "source") == 0
    assert train(data, tmp_path / "run", "--init-from", str(tmp_path / "source")) == 0
    assert (tmp_path / "run" / "best.safetensors").is_file()


def test_help_names_init_from(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "--init-from" in capsys.readouterr().out
