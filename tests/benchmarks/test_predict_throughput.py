"""The prediction throughput benchmark's quick mode measures every configuration."""

import importlib.util
import json
from pathlib import Path

from tests.helpers import one_thread

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "predict_throughput.py"


def test_predict_throughput_quick(tmp_path):
    spec = importlib.util.spec_from_file_location("predict_throughput", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with one_thread():  # no speed is asserted; two threads on a busy machine crawl
        record = module.main(["--quick", "--out", str(tmp_path)])
    assert json.loads((tmp_path / "predict_throughput_quick.json").read_text()) == record
    rows = record["results"]["rows"]
    assert [(r["batch_size"], r["workers"]) for r in rows] == [(None, 0), *module.QUICK]
    assert all(r["median_images_per_s"] > 0 for r in rows)
    assert all(r["pixels_differing_from_one_at_a_time"] == 0 for r in rows)
    assert record["results"]["images"] == 8 and record["machine"]["cpu"]
    assert "| batch 4, 2 workers |" in module.table(rows)
