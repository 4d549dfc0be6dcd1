"""Weights that do not fit the configured model: one line naming the layers that differ."""

import json
import re

import numpy as np

from ldseg.cli import main
from tests.helpers import untrained_run, write_png


def test_a_state_dict_mismatch_names_the_layers_in_one_line(tmp_path, capsys):
    run = untrained_run(tmp_path / "run")
    raw = json.loads((run / "config.json").read_text())
    raw["model"]["channels"] = [4, 8, 8, 8, 6]  # one width changed after training
    raw["model"]["num_res_blocks"] = 1  # and fewer denoiser blocks
    (run / "config.json").write_text(json.dumps(raw))
    write_png(tmp_path / "in" / "a.png", np.zeros((32, 32), np.uint8))
    out = tmp_path / "out"
    args = ["predict", "--run", str(run), "--input", str(tmp_path / "in"), "--out", str(out)]
    assert main(args) == 1
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    line = lines[0]
    assert line.startswith(f"ldseg: error: {run / 'best.safetensors'}: weights do not match the ")
    assert re.search(r"\d+ tensor\(s\) differ in shape: \S+ \[\d+(, \d+)*\] in the file, ", line)
    assert re.search(r"\d+ not in the model: denoiser\.", line)
    assert "and " in line and "more" in line  # a long list is shortened, not cut off
    assert not out.exists()
