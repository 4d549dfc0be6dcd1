"""The HTML report: ranked cases, summary table, embedded overlays, no network resources."""

import base64
import io
import re
from html.parser import HTMLParser

import numpy as np
from PIL import Image

from ldseg.evaluation import evaluate_masks, pair_folders
from ldseg.evaluation.report import folder_sources, ranked_cases, write_html_report


def save(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array.astype(np.uint8)).save(path)


def dataset(root):
    """Four cases whose predictions are shifted by 0..3 pixels: Dice falls with the shift."""
    rng = np.random.default_rng(0)
    for i in range(4):
        truth = np.zeros((24, 24))
        truth[6:16, 6:16] = 1
        save(root / "images" / f"c{i}.png", rng.random((24, 24)) * 255)
        save(root / "masks" / f"c{i}.png", truth)
        save(root / "pred" / f"c{i}.png", np.roll(truth, 2 * i, axis=1))
    return root


class Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.sources = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.sources += [value for name, value in attrs if name in ("src", "href")]


def test_ranked_cases():
    scores = {"a": 0.5, "b": 0.9, "c": None, "d": 0.1, "e": 0.7}
    report = {"cases": [{"case": c, "mean_dice": d} for c, d in scores.items()]}
    picks = [(label, case["case"]) for label, case in ranked_cases(report)]
    assert picks == [("best", "b"), ("median", "a"), ("worst", "d")]
    one = {"cases": [{"case": "a", "mean_dice": 0.5}]}
    assert [label for label, _ in ranked_cases(one)] == ["best"]


def test_report_is_self_contained_with_table_and_overlays(tmp_path):
    root = dataset(tmp_path)
    report = evaluate_masks(pair_folders(root / "pred", root / "masks"), 2, surface=True)
    folders = (root / "images", root / "pred", root / "masks")
    sources = folder_sources(*folders)
    out = write_html_report(report, tmp_path / "report.html", sources, command="ldseg evaluate")
    text = out.read_text()
    parser = Tags()
    parser.feed(text)
    assert parser.tags.count("img") == 3 and "table" in parser.tags
    assert all(src.startswith("data:image/png;base64,") for src in parser.sources)
    assert "http" not in text
    for src in parser.sources:
        Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).verify()
    assert "best: c0, mean Dice 1.000" in text and "worst: c3" in text
    assert re.search(r"HD95 \(pixel\)", text) and "Empty classes" in text
    assert f"{report['mean_dice']:.4f}" in text


def test_report_without_images_has_no_overlays(tmp_path):
    root = dataset(tmp_path)
    report = evaluate_masks(pair_folders(root / "pred", root / "masks"), 2)
    text = write_html_report(report, tmp_path / "r.html").read_text()
    assert "<img" not in text and "--images" in text and "HD95 (" not in text
