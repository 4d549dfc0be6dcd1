"""``ldseg train --resume RUN --epochs N``: a finished run trained on to N epochs in all."""

import csv
import json

from ldseg import cli
from tests.helpers import tiny_config, tiny_dataset


def test_extend_finished_run(tmp_path, one_thread, capsys):
    data = tiny_dataset(tmp_path / "data", num_cases=4, size=(32, 32))
    preset = tmp_path / "tiny.json"
    preset.write_text(json.dumps(tiny_config(epochs=1).to_dict()))
    run = tmp_path / "run"
    args = ["train", "--data", str(data), "--config", str(preset), "--quiet", "--out", str(run)]
    assert cli.main(args) == 0
    assert cli.main(["train", "--resume", str(run), "--quiet"]) != 0
    assert "nothing to resume" in capsys.readouterr().err
    assert cli.main(["train", "--resume", str(run), "--epochs", "1", "--quiet"]) != 0
    assert "must exceed the 1 epochs" in capsys.readouterr().err
    assert json.loads((run / "config.json").read_text())["train"]["epochs"] == 1
    assert cli.main(["train", "--resume", str(run), "--epochs", "2", "--quiet"]) == 0
    with open(run / "metrics.csv") as f:
        assert [int(float(r["epoch"])) for r in csv.DictReader(f)] == [1, 2]
    assert json.loads((run / "config.json").read_text())["train"]["epochs"] == 2
