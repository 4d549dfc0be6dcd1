"""The demo end to end at a tiny size: data, training, prediction, report, overlays."""

import json

import pytest

from ldseg import demo
from ldseg.errors import LDSegError


def test_demo_writes_report_and_overlays(tmp_path, monkeypatch):
    monkeypatch.setattr(demo, "SIZE", (32, 32))
    monkeypatch.setattr(demo, "NUM_TRAIN", 8)
    monkeypatch.setattr(demo, "NUM_VAL", 2)
    monkeypatch.setattr(demo, "NUM_TEST", 3)
    report = demo.run_demo(tmp_path / "demo", epochs=1)
    out = tmp_path / "demo"
    assert len(report["cases"]) == 3 and set(report["classes"]) == {"0", "1", "2", "3"}
    assert json.loads((out / "evaluation.json").read_text())["mean_dice"] == report["mean_dice"]
    for name in ("report.md", "overlays.png", "run/config.json", "run/best.safetensors"):
        assert (out / name).is_file(), name
    assert len(list((out / "predictions").glob("*.png"))) == 3
    with pytest.raises(LDSegError, match="already holds a demo run"):
        demo.run_demo(out, epochs=1)
